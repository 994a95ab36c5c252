import CZeroMQ

/// A socket option together with the Swift type of its value, for ``Socket/set(_:to:)`` and
/// ``Socket/get(_:)``:
///
/// ```swift
/// try socket.set(.linger, to: 0)
/// try socket.set(.routerMandatory, to: true)
/// let more = try socket.get(.receiveMore)
/// ```
///
/// Some options are write-only (subscriptions, ``routerMandatory``) or read-only (``receiveMore``,
/// ``events``, ``lastEndpoint``); using them the other way fails with ``ZMQError/Code/invalidArgument``.
public struct SocketOption<Value>: Sendable, Hashable, CustomStringConvertible {
    /// How the value crosses `zmq_setsockopt`/`zmq_getsockopt`.
    enum Representation: Sendable, Hashable {
        case int32, int64, bool, bytes, curveKey, string
    }

    /// The libzmq option number, e.g. `ZMQ_LINGER`.
    public let rawValue: Int32
    /// The libzmq option name, e.g. `ZMQ_LINGER`, used in error contexts.
    public let name: String
    let representation: Representation

    init(_ rawValue: Int32, _ name: String, _ representation: Representation) {
        self.rawValue = rawValue
        self.name = name
        self.representation = representation
    }

    /// The libzmq option name.
    public var description: String { name }
}

extension SocketOption where Value == Int32 {
    /// Milliseconds pending messages are kept after close (-1: until sent, the default; 0: dropped).
    public static var linger: Self { Self(ZMQ_LINGER, "ZMQ_LINGER", .int32) }
    /// Messages queued per peer for sending before sends block or fail (default 1000; 0: unlimited).
    public static var sendHighWaterMark: Self { Self(ZMQ_SNDHWM, "ZMQ_SNDHWM", .int32) }
    /// Messages queued per peer for receiving before libzmq stops reading (default 1000; 0: unlimited).
    public static var receiveHighWaterMark: Self { Self(ZMQ_RCVHWM, "ZMQ_RCVHWM", .int32) }
    /// Milliseconds a blocking receive waits before returning `nil` (-1: forever).
    public static var receiveTimeout: Self { Self(ZMQ_RCVTIMEO, "ZMQ_RCVTIMEO", .int32) }
    /// Milliseconds a blocking send waits before returning `false` (-1: forever).
    public static var sendTimeout: Self { Self(ZMQ_SNDTIMEO, "ZMQ_SNDTIMEO", .int32) }
    /// The kernel send buffer size in bytes (-1: the OS default).
    public static var sendBufferSize: Self { Self(ZMQ_SNDBUF, "ZMQ_SNDBUF", .int32) }
    /// The kernel receive buffer size in bytes (-1: the OS default).
    public static var receiveBufferSize: Self { Self(ZMQ_RCVBUF, "ZMQ_RCVBUF", .int32) }
    /// TCP keep-alive: -1 the OS default, 0 off, 1 on.
    public static var tcpKeepAlive: Self { Self(ZMQ_TCP_KEEPALIVE, "ZMQ_TCP_KEEPALIVE", .int32) }
    /// Seconds of idleness before the first keep-alive probe (-1: the OS default).
    public static var tcpKeepAliveIdle: Self { Self(ZMQ_TCP_KEEPALIVE_IDLE, "ZMQ_TCP_KEEPALIVE_IDLE", .int32) }
    /// Unanswered keep-alive probes before the connection is dropped (-1: the OS default).
    public static var tcpKeepAliveCount: Self { Self(ZMQ_TCP_KEEPALIVE_CNT, "ZMQ_TCP_KEEPALIVE_CNT", .int32) }
    /// Seconds between keep-alive probes (-1: the OS default).
    public static var tcpKeepAliveInterval: Self { Self(ZMQ_TCP_KEEPALIVE_INTVL, "ZMQ_TCP_KEEPALIVE_INTVL", .int32) }
    /// Milliseconds before reconnecting a dropped connection (default 100; -1: never).
    public static var reconnectInterval: Self { Self(ZMQ_RECONNECT_IVL, "ZMQ_RECONNECT_IVL", .int32) }
    /// The upper bound in milliseconds for exponential reconnect back-off (0: no back-off).
    public static var reconnectIntervalMaximum: Self { Self(ZMQ_RECONNECT_IVL_MAX, "ZMQ_RECONNECT_IVL_MAX", .int32) }
    /// Milliseconds a new connection has to complete the ZMTP handshake (default 30 000).
    public static var handshakeInterval: Self { Self(ZMQ_HANDSHAKE_IVL, "ZMQ_HANDSHAKE_IVL", .int32) }
    /// Milliseconds between ZMTP heartbeats (0: none).
    public static var heartbeatInterval: Self { Self(ZMQ_HEARTBEAT_IVL, "ZMQ_HEARTBEAT_IVL", .int32) }
    /// Milliseconds without traffic after a heartbeat before the connection is dropped.
    public static var heartbeatTimeout: Self { Self(ZMQ_HEARTBEAT_TIMEOUT, "ZMQ_HEARTBEAT_TIMEOUT", .int32) }
    /// Milliseconds the peer should wait for traffic before dropping the connection.
    public static var heartbeatTimeToLive: Self { Self(ZMQ_HEARTBEAT_TTL, "ZMQ_HEARTBEAT_TTL", .int32) }
    /// The libzmq socket type constant (read-only).
    public static var type: Self { Self(ZMQ_TYPE, "ZMQ_TYPE", .int32) }
    /// The raw `ZMQ_POLLIN`/`ZMQ_POLLOUT` bits (read-only); ``Socket/events`` gives them typed.
    public static var events: Self { Self(ZMQ_EVENTS, "ZMQ_EVENTS", .int32) }
    /// The edge-triggered file descriptor that signals pending ``events`` (read-only).
    public static var fileDescriptor: Self { Self(ZMQ_FD, "ZMQ_FD", .int32) }
}

extension SocketOption where Value == Int64 {
    /// The largest message part, in bytes, accepted from a peer; larger ones drop the connection (-1: no limit).
    public static var maximumMessageSize: Self { Self(ZMQ_MAXMSGSIZE, "ZMQ_MAXMSGSIZE", .int64) }
}

extension SocketOption where Value == Bool {
    /// A ROUTER fails a send to an unknown routing id with ``ZMQError/Code/hostUnreachable``
    /// instead of dropping it silently (write-only).
    public static var routerMandatory: Self { Self(ZMQ_ROUTER_MANDATORY, "ZMQ_ROUTER_MANDATORY", .bool) }
    /// A ROUTER hands an existing routing id over to a new connection that claims it (write-only).
    public static var routerHandover: Self { Self(ZMQ_ROUTER_HANDOVER, "ZMQ_ROUTER_HANDOVER", .bool) }
    /// Queue messages only to completed connections, so sends to a peer that is not up block or fail.
    public static var immediate: Self { Self(ZMQ_IMMEDIATE, "ZMQ_IMMEDIATE", .bool) }
    /// Whether the part just received is followed by more parts of the same message (read-only).
    public static var receiveMore: Self { Self(ZMQ_RCVMORE, "ZMQ_RCVMORE", .bool) }
    /// Whether the socket uses IPv6 as well as IPv4.
    public static var ipv6: Self { Self(ZMQ_IPV6, "ZMQ_IPV6", .bool) }
    /// Whether the socket is a CurveZMQ server (set before bind).
    public static var curveServer: Self { Self(ZMQ_CURVE_SERVER, "ZMQ_CURVE_SERVER", .bool) }
    /// A DEALER or ROUTER sends an empty message on connect so the peer ROUTER learns its id (write-only).
    public static var probeRouter: Self { Self(ZMQ_PROBE_ROUTER, "ZMQ_PROBE_ROUTER", .bool) }
}

extension SocketOption where Value == [UInt8] {
    /// The id a ROUTER peer sees for this socket, 1 to 255 bytes, not starting with 0 (set before connect).
    public static var routingID: Self { Self(ZMQ_ROUTING_ID, "ZMQ_ROUTING_ID", .bytes) }
    /// The routing id to give the peer of the next `connect`, for a ROUTER connecting out (write-only).
    public static var connectRoutingID: Self { Self(ZMQ_CONNECT_ROUTING_ID, "ZMQ_CONNECT_ROUTING_ID", .bytes) }
    /// Adds a message prefix a SUB socket accepts (write-only; empty: everything).
    public static var subscribe: Self { Self(ZMQ_SUBSCRIBE, "ZMQ_SUBSCRIBE", .bytes) }
    /// Removes a prefix added with ``subscribe`` (write-only).
    public static var unsubscribe: Self { Self(ZMQ_UNSUBSCRIBE, "ZMQ_UNSUBSCRIBE", .bytes) }
    /// This socket's 32-byte CurveZMQ public key.
    public static var curvePublicKey: Self { Self(ZMQ_CURVE_PUBLICKEY, "ZMQ_CURVE_PUBLICKEY", .curveKey) }
    /// This socket's 32-byte CurveZMQ secret key.
    public static var curveSecretKey: Self { Self(ZMQ_CURVE_SECRETKEY, "ZMQ_CURVE_SECRETKEY", .curveKey) }
    /// The 32-byte public key of the CurveZMQ server a client connects to.
    public static var curveServerKey: Self { Self(ZMQ_CURVE_SERVERKEY, "ZMQ_CURVE_SERVERKEY", .curveKey) }
}

extension SocketOption where Value == String {
    /// The endpoint last bound or connected, with the port the OS chose for a wildcard (read-only).
    public static var lastEndpoint: Self { Self(ZMQ_LAST_ENDPOINT, "ZMQ_LAST_ENDPOINT", .string) }
    /// The ZAP authentication domain.
    public static var zapDomain: Self { Self(ZMQ_ZAP_DOMAIN, "ZMQ_ZAP_DOMAIN", .string) }
}
