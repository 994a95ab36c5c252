import CZeroMQ
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Socket {
    /// Frames larger than this many bytes are sent without copying; smaller ones are copied into the
    /// message, which costs less than the reference counting and release callback of a zero-copy send.
    public static let zeroCopyThreshold = 256

    /// Sends one message part, returning `false` if it would block: with `dontWait`, or when
    /// ``SocketOption/sendTimeout`` ran out. With `more`, the part is followed by further parts of
    /// the same message (`ZMQ_SNDMORE`).
    @discardableResult
    public func send(_ frame: Frame, more: Bool = false, dontWait: Bool = false) throws(ZMQError) -> Bool {
        var flags: Int32 = more ? ZMQ_SNDMORE : 0
        if dontWait { flags |= ZMQ_DONTWAIT }
        return try sendPart(frame, flags: flags, index: 0, of: 1, ledger: nil)
    }

    /// Sends `bytes` (copied into the message) as one part followed by `frames`, as one multipart
    /// message: for a ROUTER, the routing id of the peer and then the message for it. Returns `false`
    /// if it would block, as sending the frames alone would.
    @discardableResult
    public func send(
        prefix bytes: [UInt8], _ frames: [Frame], dontWait: Bool = false, ledger: SendLedger? = nil
    ) throws(ZMQError) -> Bool {
        let sent = bytes.withUnsafeBytes { bytes in
            Result { () throws(ZMQError) in try send(copying: bytes, more: !frames.isEmpty, dontWait: dontWait) }
        }
        guard try sent.get() else { return false }
        if frames.isEmpty { return true }
        return try send(frames, dontWait: dontWait, ledger: ledger)
    }

    /// Sends a copy of `bytes` as one message part (`zmq_send`), returning `false` if it would
    /// block. With `more`, further parts of the same message follow. Nothing is allocated on the
    /// Swift side, so small parts such as a header encoded on the stack cost only libzmq's copy.
    @discardableResult
    public func send(copying bytes: UnsafeRawBufferPointer, more: Bool, dontWait: Bool = false) throws(ZMQError) -> Bool {
        let wait: Int32 = dontWait ? ZMQ_DONTWAIT : 0
        let flags = more ? ZMQ_SNDMORE | wait : wait
        while true {
            if zmq_send(handle, bytes.baseAddress, bytes.count, flags) >= 0 { return true }
            let code = zmq_errno()
            if code == EINTR { continue }
            if code == EAGAIN { return false }
            throw ZMQError(code: code, context: "zmq_send(\(type), \(bytes.count) bytes)")
        }
    }

    /// Sends `frames` as one multipart message, returning `false` if it would block: with `dontWait`,
    /// or when ``SocketOption/sendTimeout`` ran out. An empty array sends nothing and returns `true`.
    ///
    /// libzmq delivers a message whole or not at all; `false` means it was not queued (libzmq rolls
    /// back any parts it had accepted). Frames above ``zeroCopyThreshold`` bytes are handed to libzmq
    /// without a copy: the message keeps the frame's storage alive until libzmq's I/O thread has
    /// written it out, so the caller may drop its frames as soon as this returns. With a `ledger`,
    /// those frames' bytes count in it until libzmq releases them.
    @discardableResult
    public func send(_ frames: [Frame], dontWait: Bool = false, ledger: SendLedger? = nil) throws(ZMQError) -> Bool {
        let last = frames.count - 1
        let wait: Int32 = dontWait ? ZMQ_DONTWAIT : 0
        for (index, frame) in frames.enumerated() {
            let flags = index < last ? ZMQ_SNDMORE | wait : wait
            guard try sendPart(frame, flags: flags, index: index, of: frames.count, ledger: ledger) else { return false }
        }
        return true
    }

    /// Builds a `zmq_msg_t` for `frame`, sends it, and closes it if libzmq did not take it, so that
    /// no failure path leaks the message or the frame storage it references.
    private func sendPart(
        _ frame: Frame, flags: Int32, index: Int, of count: Int, ledger: SendLedger?
    ) throws(ZMQError) -> Bool {
        let handle = handle
        let outcome: Int32 = withUnsafeTemporaryAllocation(of: zmq_msg_t.self, capacity: 1) { buffer in
            let message = buffer.baseAddress!
            guard Socket.initialize(message, with: frame, ledger: ledger) else { return ENOMEM }
            while true {
                if zmq_msg_send(message, handle, flags) >= 0 { return 0 }
                let code = zmq_errno()
                if code == EINTR { continue }
                // On failure the message still owns its content (and the frame retain).
                zmq_msg_close(message)
                return code
            }
        }
        switch outcome {
        case 0: return true
        case EAGAIN: return false
        default:
            throw ZMQError(code: outcome, context: "zmq_msg_send(\(type), part \(index + 1) of \(count))")
        }
    }

    /// Initializes `message` to carry `frame`: by reference above the threshold (counted in
    /// `ledger` until libzmq releases it), by copy below.
    private static func initialize(
        _ message: UnsafeMutablePointer<zmq_msg_t>, with frame: Frame, ledger: SendLedger?
    ) -> Bool {
        let storage = frame.storage
        let count = storage.count
        if count > zeroCopyThreshold, let base = storage.baseAddress {
            // libzmq never writes through this pointer; it only needs the C signature's mutability.
            let data = UnsafeMutableRawPointer(mutating: base)
            let owner: AnyObject = ledger.map { LedgerEntry(storage: storage, ledger: $0) } ?? storage
            let retained = Unmanaged.passRetained(owner)
            let result = zmq_msg_init_data(
                message, data, count,
                { _, hint in
                    // Called once, from whichever thread drops libzmq's last reference (often its
                    // I/O thread); the release is an atomic reference-count decrement (and, for a
                    // ledger entry, an atomic subtraction).
                    Unmanaged<AnyObject>.fromOpaque(hint!).release()
                },
                retained.toOpaque())
            if result != 0 {
                retained.release()
                return false
            }
            return true
        }
        guard zmq_msg_init_size(message, count) == 0 else { return false }
        if count > 0, let base = storage.baseAddress {
            zmq_msg_data(message).copyMemory(from: base, byteCount: count)
        }
        return true
    }
}
