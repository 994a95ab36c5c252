import CZeroMQ

/// A libzmq socket, owned by exactly one thread.
///
/// libzmq sockets are not thread-safe, so this type is neither `Sendable` nor copyable: the thread
/// that creates it is the only one that uses and closes it. Other threads hand it work through a
/// queue and a ``WakeUpSignal``. The socket is closed by ``close()`` or, failing that, when it goes
/// out of scope; either way it must be closed before its ``Context`` can terminate.
///
/// Sending never copies frames above ``zeroCopyThreshold`` bytes, and receiving never copies at all;
/// see ``send(_:dontWait:)`` and ``receiveMultipart(dontWait:maximumParts:)``.
public struct Socket: ~Copyable {
    /// The libzmq socket; valid until `zmq_close`, which only `close()` or `deinit` call.
    let handle: UnsafeMutableRawPointer

    /// The socket's messaging pattern.
    public let type: SocketType

    /// Creates a socket of the given type in `context`.
    ///
    /// Fails with ``ZMQError/Code/terminated`` once the context is terminating, and with
    /// ``ZMQError/Code/tooManyOpenFiles`` past ``Context/Options/maximumSockets``.
    public init(_ type: SocketType, context: Context) throws(ZMQError) {
        self.handle = try context.makeSocketHandle(type: type.rawValue, label: type.description)
        self.type = type
    }

    deinit {
        zmq_close(handle)
    }

    /// Closes the socket now. Pending outgoing messages are kept for ``SocketOption/linger``
    /// milliseconds by the context's I/O thread.
    public consuming func close() {
        zmq_close(handle)
        discard self
    }

    // MARK: Endpoints

    /// Binds to `endpoint` and returns the endpoint actually bound.
    ///
    /// A TCP port of `0` or `*` asks the OS for a free port, which the result names, e.g.
    /// `tcp://127.0.0.1:0` returns `tcp://127.0.0.1:43517`.
    @discardableResult
    public func bind(to endpoint: String) throws(ZMQError) -> String {
        try ZMQCall.run("zmq_bind(\(type), \(endpoint))", { zmq_bind(handle, endpoint) })
        return try lastEndpoint
    }

    /// Stops listening on `endpoint` (as returned by ``bind(to:)``).
    public func unbind(from endpoint: String) throws(ZMQError) {
        try ZMQCall.run("zmq_unbind(\(type), \(endpoint))", { zmq_unbind(handle, endpoint) })
    }

    /// Connects to `endpoint`. The connection is made, and remade after failures, in the background;
    /// a malformed endpoint or unknown transport fails here.
    public func connect(to endpoint: String) throws(ZMQError) {
        try ZMQCall.run("zmq_connect(\(type), \(endpoint))", { zmq_connect(handle, endpoint) })
    }

    /// Drops the connection to `endpoint` made by ``connect(to:)``.
    public func disconnect(from endpoint: String) throws(ZMQError) {
        try ZMQCall.run("zmq_disconnect(\(type), \(endpoint))", { zmq_disconnect(handle, endpoint) })
    }

    /// The endpoint last bound or connected, with any wildcard port resolved.
    public var lastEndpoint: String {
        get throws(ZMQError) { try get(.lastEndpoint) }
    }

    // MARK: Options

    /// Sets a socket option, e.g. `try socket.set(.linger, to: 0)`.
    public func set<Value>(_ option: SocketOption<Value>, to value: Value) throws(ZMQError) {
        let handle = handle
        func setOption(_ pointer: UnsafeRawPointer?, _ length: Int) -> Int32 {
            zmq_setsockopt(handle, option.rawValue, pointer, length)
        }
        try ZMQCall.run("zmq_setsockopt(\(type), \(option.name))") {
            switch option.representation {
            case .int32:
                var number = value as! Int32
                return setOption(&number, MemoryLayout<Int32>.size)
            case .int64:
                var number = value as! Int64
                return setOption(&number, MemoryLayout<Int64>.size)
            case .bool:
                var number: Int32 = (value as! Bool) ? 1 : 0
                return setOption(&number, MemoryLayout<Int32>.size)
            case .bytes, .curveKey:
                return (value as! [UInt8]).withUnsafeBytes { setOption($0.baseAddress, $0.count) }
            case .string:
                var text = value as! String
                return text.withUTF8 { setOption($0.baseAddress, $0.count) }
            }
        }
    }

    /// Reads a socket option, e.g. `try socket.get(.receiveHighWaterMark)`.
    public func get<Value>(_ option: SocketOption<Value>) throws(ZMQError) -> Value {
        switch option.representation {
        case .int32:
            return try readInteger(option.rawValue, as: Int32.self, name: option.name) as! Value
        case .int64:
            return try readInteger(option.rawValue, as: Int64.self, name: option.name) as! Value
        case .bool:
            return (try readInteger(option.rawValue, as: Int32.self, name: option.name) != 0) as! Value
        case .bytes:
            return try readBytes(option.rawValue, capacity: 256, name: option.name) as! Value
        case .curveKey:
            // libzmq returns a binary key only when asked for exactly 32 bytes.
            return try readBytes(option.rawValue, capacity: 32, name: option.name) as! Value
        case .string:
            var bytes = try readBytes(option.rawValue, capacity: 4096, name: option.name)
            if bytes.last == 0 { bytes.removeLast() }
            return String(decoding: bytes, as: UTF8.self) as! Value
        }
    }

    private func readInteger<Integer: FixedWidthInteger>(
        _ option: Int32, as: Integer.Type, name: @autoclosure () -> String
    ) throws(ZMQError) -> Integer {
        var value: Integer = 0
        var length = MemoryLayout<Integer>.size
        try ZMQCall.run("zmq_getsockopt(\(type), \(name()))", { zmq_getsockopt(handle, option, &value, &length) })
        return value
    }

    private func readBytes(_ option: Int32, capacity: Int, name: String) throws(ZMQError) -> [UInt8] {
        var length = capacity
        var bytes = [UInt8](repeating: 0, count: capacity)
        let handle = handle
        try ZMQCall.run("zmq_getsockopt(\(type), \(name))") {
            bytes.withUnsafeMutableBytes { zmq_getsockopt(handle, option, $0.baseAddress, &length) }
        }
        bytes.removeSubrange(min(length, capacity)...)
        return bytes
    }

    /// Whether a message can be received (``PollEvents/readable``) or sent (``PollEvents/writable``)
    /// without blocking right now (`ZMQ_EVENTS`). Reading it also resets the edge of
    /// ``fileDescriptor``, so check it after every send or receive when waiting on that descriptor.
    public var events: PollEvents {
        get throws(ZMQError) {
            PollEvents(rawValue: Int16(truncatingIfNeeded: try readInteger(ZMQ_EVENTS, as: Int32.self, name: "ZMQ_EVENTS")))
        }
    }

    /// Whether the part last received is followed by more parts of the same message (`ZMQ_RCVMORE`).
    public var hasMoreParts: Bool {
        get throws(ZMQError) { try readInteger(ZMQ_RCVMORE, as: Int32.self, name: "ZMQ_RCVMORE") != 0 }
    }

    /// The edge-triggered descriptor libzmq signals when ``events`` may have changed (`ZMQ_FD`);
    /// for integrating the socket into a foreign event loop. ``Poller`` does not need it.
    public var fileDescriptor: Int32 {
        get throws(ZMQError) { try readInteger(ZMQ_FD, as: Int32.self, name: "ZMQ_FD") }
    }

    /// Makes a ``SocketType/subscriber`` socket accept messages starting with `prefix` (empty: all).
    public func subscribe(to prefix: [UInt8] = []) throws(ZMQError) {
        try set(.subscribe, to: prefix)
    }

    /// Removes a prefix added with ``subscribe(to:)``.
    public func unsubscribe(from prefix: [UInt8] = []) throws(ZMQError) {
        try set(.unsubscribe, to: prefix)
    }
}

// Sockets belong to one thread; this makes the compiler refuse to send one across.
@available(*, unavailable)
extension Socket: Sendable {}
