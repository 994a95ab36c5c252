import CZeroMQ

extension Socket {
    /// Receives one message part, or `nil` if none is waiting: with `dontWait`, or when
    /// ``SocketOption/receiveTimeout`` ran out. Check ``hasMoreParts`` for the rest of the message.
    public func receive(dontWait: Bool = false) throws(ZMQError) -> Frame? {
        try receivePart(flags: dontWait ? ZMQ_DONTWAIT : 0)?.frame
    }

    /// Receives a whole multipart message, or `nil` if none is waiting: with `dontWait`, or when
    /// ``SocketOption/receiveTimeout`` ran out.
    ///
    /// No byte is copied: each part stays in the `zmq_msg_t` libzmq filled, owned by its ``Frame``.
    /// A message of more than `maximumParts` parts is read to its end and discarded, then reported
    /// as ``ZMQError/Code/messageTooLarge``, so a hostile peer cannot make the caller hold an
    /// unbounded number of parts and the socket is ready for the next message.
    public func receiveMultipart(dontWait: Bool = false, maximumParts: Int = .max) throws(ZMQError) -> [Frame]? {
        guard let first = try receivePart(flags: dontWait ? ZMQ_DONTWAIT : 0) else { return nil }
        var frames: [Frame] = []
        frames.reserveCapacity(first.more ? 4 : 1)
        frames.append(first.frame)
        try receiveRest(of: &frames, more: first.more, maximumParts: maximumParts)
        return frames
    }

    /// Receives a whole multipart message as its first part (for a ``SocketType/router``, the
    /// routing id of the peer that sent it) and the parts after it, or `nil` if none is waiting.
    /// `maximumParts` counts every part, as in ``receiveMultipart(dontWait:maximumParts:)``.
    public func receiveEnvelope(dontWait: Bool = false, maximumParts: Int = .max) throws(ZMQError) -> (envelope: Frame, parts: [Frame])? {
        guard let first = try receivePart(flags: dontWait ? ZMQ_DONTWAIT : 0) else { return nil }
        var frames: [Frame] = []
        frames.reserveCapacity(4)
        try receiveRest(of: &frames, more: first.more, maximumParts: maximumParts - 1)
        return (first.frame, frames)
    }

    /// Appends the remaining parts of a message whose last part read so far said `more`.
    private func receiveRest(of frames: inout [Frame], more: Bool, maximumParts: Int) throws(ZMQError) {
        var more = more
        // libzmq delivers messages atomically, so once the first part is here the rest is too and
        // these receives never block.
        while more {
            guard let part = try receivePart(flags: 0) else {
                throw ZMQError(code: EAGAIN, context: "zmq_msg_recv(\(type), part \(frames.count + 1))")
            }
            more = part.more
            if frames.count == maximumParts {
                frames.removeAll()
                while more {
                    guard let discarded = try receivePart(flags: 0) else { break }
                    more = discarded.more
                }
                throw ZMQError(
                    code: EMSGSIZE, context: "zmq_msg_recv(\(type)): message over \(maximumParts) parts")
            }
            frames.append(part.frame)
        }
    }

    /// Receives one part into a heap `zmq_msg_t` that the returned frame owns from then on.
    private func receivePart(flags: Int32) throws(ZMQError) -> (frame: Frame, more: Bool)? {
        let message = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: 1)
        zmq_msg_init(message)
        while true {
            if zmq_msg_recv(message, handle, flags) >= 0 { break }
            let code = zmq_errno()
            if code == EINTR { continue }
            zmq_msg_close(message)
            message.deallocate()
            if code == EAGAIN { return nil }
            throw ZMQError(code: code, context: "zmq_msg_recv(\(type))")
        }
        let more = zmq_msg_more(message) != 0
        return (Frame(storage: FrameStorage(takingMessage: message)), more)
    }
}
