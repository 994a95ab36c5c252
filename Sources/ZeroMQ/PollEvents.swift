import CZeroMQ

/// What a socket or file descriptor is ready for (or asked to be watched for).
public struct PollEvents: OptionSet, Sendable, Hashable {
    /// The `ZMQ_POLL*` bits.
    public let rawValue: Int16

    /// Wraps `ZMQ_POLL*` bits.
    public init(rawValue: Int16) { self.rawValue = rawValue }

    /// A message (or, for a file descriptor, data) can be received without blocking.
    public static let readable = PollEvents(rawValue: Int16(ZMQ_POLLIN))
    /// A message can be sent without blocking.
    public static let writable = PollEvents(rawValue: Int16(ZMQ_POLLOUT))
    /// An error condition on a file descriptor (never reported for sockets).
    public static let error = PollEvents(rawValue: Int16(ZMQ_POLLERR))
}
