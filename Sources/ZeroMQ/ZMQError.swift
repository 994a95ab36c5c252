import CZeroMQ

/// A failed libzmq (or system) call: the `errno` it reported and which call on which endpoint failed.
///
/// A struct rather than an enum so that new error numbers never break callers. Match the interesting
/// ones through ``Code``:
///
/// ```swift
/// do { try socket.send(frames) }
/// catch ZMQError.Code.hostUnreachable { /* router-mandatory: unknown peer */ }
/// ```
public struct ZMQError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The `errno` value libzmq reported.
    public var code: Int32
    /// Which call failed, with the endpoint or option it was given, e.g. `zmq_connect(tcp://host:1)`.
    public var context: String

    /// Creates an error from an `errno` value and a description of the failed call.
    public init(code: Int32, context: String) {
        self.code = code
        self.context = context
    }

    /// The error number as a matchable ``Code``.
    public var kind: Code { Code(rawValue: code) }

    /// libzmq's text for the error number.
    public var reason: String { String(cString: zmq_strerror(code)) }

    /// `context: reason (errno N)`.
    public var description: String { "\(context): \(reason) (errno \(code))" }

    /// The error raised by the most recent failed libzmq call on this thread.
    static func last(_ context: String) -> ZMQError {
        ZMQError(code: zmq_errno(), context: context)
    }
}

extension ZMQError {
    /// An error number worth matching, usable as a pattern in `catch` and `switch`.
    public struct Code: RawRepresentable, Hashable, Sendable {
        /// The `errno` value.
        public let rawValue: Int32

        /// Wraps an `errno` value.
        public init(rawValue: Int32) { self.rawValue = rawValue }

        /// `EAGAIN`: the operation would block (non-blocking call, or a send/receive timeout ran out).
        public static let again = Code(rawValue: EAGAIN)
        /// `EHOSTUNREACH`: a ROUTER with `routerMandatory` was asked to send to an unknown peer.
        public static let hostUnreachable = Code(rawValue: EHOSTUNREACH)
        /// `ETERM`: the context was shut down or is terminating.
        public static let terminated = Code(rawValue: ETERM)
        /// `EINTR`: a signal interrupted the call (retried internally, so rarely seen).
        public static let interrupted = Code(rawValue: EINTR)
        /// `EINVAL`: an invalid argument, endpoint or option value.
        public static let invalidArgument = Code(rawValue: EINVAL)
        /// `ENOTSUP`: the operation is not supported by this socket type.
        public static let notSupported = Code(rawValue: ENOTSUP)
        /// `EPROTONOSUPPORT`: the endpoint names an unknown transport.
        public static let protocolNotSupported = Code(rawValue: EPROTONOSUPPORT)
        /// `EADDRINUSE`: the address is already bound.
        public static let addressInUse = Code(rawValue: EADDRINUSE)
        /// `EADDRNOTAVAIL`: the address is not local.
        public static let addressNotAvailable = Code(rawValue: EADDRNOTAVAIL)
        /// `ENODEV`: the endpoint names an unknown network interface.
        public static let noDevice = Code(rawValue: ENODEV)
        /// `ENOTSOCK`: the socket is closed or invalid.
        public static let notSocket = Code(rawValue: ENOTSOCK)
        /// `EFSM`: the socket is in the wrong state for this call (e.g. REQ sending twice).
        public static let finiteStateMachine = Code(rawValue: EFSM)
        /// `ENOCOMPATPROTO`: the transport does not suit the socket type.
        public static let noCompatibleProtocol = Code(rawValue: ENOCOMPATPROTO)
        /// `EMFILE`: too many open sockets or files.
        public static let tooManyOpenFiles = Code(rawValue: EMFILE)
        /// `ENOENT`: the endpoint was never bound or connected (unbind, disconnect).
        public static let notFound = Code(rawValue: ENOENT)
        /// `EMSGSIZE`: a received message exceeds a limit the caller set.
        public static let messageTooLarge = Code(rawValue: EMSGSIZE)
    }

    /// Lets a ``Code`` match a ``ZMQError`` in `switch` and `catch` patterns.
    public static func ~= (pattern: Code, error: ZMQError) -> Bool {
        pattern.rawValue == error.code
    }
}

extension ZMQError.Code {
    /// Lets a ``ZMQError/Code`` match any error in a `catch` pattern.
    public static func ~= (pattern: ZMQError.Code, error: any Error) -> Bool {
        (error as? ZMQError)?.code == pattern.rawValue
    }
}
