import ZeroMQ

/// Who sent a message, and so where its reply goes.
public enum PeerAddress: Hashable, Sendable, CustomStringConvertible {
    /// A peer that connected to this node's ROUTER socket, by the routing id the ROUTER gave it.
    case routed([UInt8])
    /// A peer this node reaches through a DEALER connected to the peer's ROUTER endpoint.
    case endpoint(String)

    public var description: String {
        switch self {
        case .routed(let id): return "peer 0x" + id.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
        case .endpoint(let endpoint): return endpoint
        }
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// What a handler may do from its I/O thread. Implemented by ``ZMQTransport`` (real sockets)
/// and by ``InMemoryNetwork`` (tests, fake time). Roles never see it: their ``RoleShell`` does.
public protocol TransportIO: AnyObject {
    /// The endpoint this node's ROUTER is bound to.
    var localEndpoint: String { get }
    /// The current time: the real continuous clock, or a test's fake one.
    var now: ContinuousClock.Instant { get }
    /// Sends a multipart message. It never blocks; a peer that cannot be reached gives an error.
    func send(_ frames: [Frame], to peer: PeerAddress) throws
    /// Sends a message of `header` followed by the `payload` frames. The header may be encoded
    /// straight into the outgoing message, without a frame of its own.
    func send(_ header: Header, payload: [Frame], to peer: PeerAddress) throws
    /// Ends the I/O loop after the current event; queued outgoing messages are flushed first.
    func stop()
    /// The most payload bytes a reply to `peer` may have now without being dropped because the
    /// peer does not read its replies (docs/PROTOCOL.md section 10.1), or `nil` when any reply
    /// would go. Checked for every message that arrives, so it must be cheap.
    func replyRoom(for peer: PeerAddress) -> Int?
}

extension TransportIO {
    public func replyRoom(for peer: PeerAddress) -> Int? { nil }

    public func send(_ header: Header, payload: [Frame], to peer: PeerAddress) throws {
        try send([HeaderCodec.encode(header)] + payload, to: peer)
    }
}

/// What a transport drives on its I/O thread, for every message and on every tick: a role's
/// ``RoleShell``, which turns these calls into events of the role's state machine.
public protocol TransportHandler: AnyObject, SendableMetatype {
    /// Called once on the I/O thread before any message is delivered.
    func start(io: any TransportIO)
    /// Called for every message that arrives, with the header and payload frames (no envelope).
    func received(_ frames: [Frame], from peer: PeerAddress, io: any TransportIO)
    /// Called at least every ``TransportSettings/tickInterval`` to drive deadlines and heartbeats.
    func tick(io: any TransportIO)
    /// Called when the messages that had arrived are handled and the transport is about to wait
    /// for more: the moment to send what the handler gathered from them (a server's replication
    /// batch). May come after any number of messages, at least once before every wait.
    func drained(io: any TransportIO)
    /// Called once when the loop ends (after ``TransportIO/stop()`` or a fatal transport error).
    func stopped(error: (any Error)?)
    /// The one socket nearly all of the handler's work arrives on for now, if there is one: the
    /// ROUTER of a registered server, the DEALER to the single server a worker has requests in
    /// flight with. The transport then waits for the next message inside libzmq's own blocking
    /// receive on that socket, which costs one `poll` per wake-up where a wait on every socket costs
    /// three (about 1.5 µs of CPU per 1K-key request), and looks at its other sockets and at work
    /// queued from other threads without blocking at least every
    /// ``TransportSettings/tickInterval``: those may wait that long. A DEALER is waited on only
    /// while no work came from other threads in the last tick, so that an application issuing
    /// requests from another thread keeps them flowing. Asked before every wait; `nil` unless a
    /// handler says otherwise.
    var mainSocket: MainSocket? { get }
}

extension TransportHandler {
    public var mainSocket: MainSocket? { nil }
    public func drained(io: any TransportIO) {}
}

/// Settings of the transports.
public struct TransportSettings: Sendable {
    /// The longest a transport goes without calling ``TransportHandler/tick(io:)``.
    public var tickInterval: Duration = .milliseconds(20)
    /// How long closing sockets may take to flush queued messages.
    public var linger: Duration = .seconds(2)
    /// Messages larger than this are refused by libzmq before they are read (ZMQ_MAXMSGSIZE).
    public var maximumMessageBytes: Int64 = 1 << 30
    /// Messages of more frames than this are dropped (and answered with an error by the handler).
    public var maximumParts = 16
    /// The CPU the I/O thread is kept on (see ``ThreadAffinity``); `nil` lets it run on any.
    public var cpu: Int?
    /// The I/O thread's name, as `top -H`, `ps -L` and profilers show it (at most 15 bytes are kept).
    public var threadName = "zps-io"
    /// The number that starts the names of the libzmq threads of the node's context
    /// (``NodeRole/libzmqThreadPrefix(rank:)``); `nil`: libzmq's plain `ZMQbg/IO/0`.
    public var libzmqThreadPrefix: Int?
    /// Whether the I/O thread runs under `SCHED_BATCH`, and with it the libzmq I/O threads it starts,
    /// so that a woken thread waits for the running one to finish its batch (see ``ThreadScheduling``).
    public var batchScheduling = false
    /// How long the I/O thread keeps asking its main socket for the next message, yielding the CPU
    /// between asks, before it blocks in libzmq's receive (see ``TransportHandler/mainSocket``).
    /// A reply that comes within it costs no sleep and no wake-up of another CPU: on a two-core
    /// host, 1K-key requests go 10–80% faster with 50 µs. The thread uses CPU that nothing else
    /// on its CPU wants meanwhile; `.zero` blocks at once, for hosts whose CPUs are all busy.
    /// `nil` (the default) is ``defaultBusyPoll`` under ``batchScheduling`` and `.zero` without
    /// it: under the default policy, threads that poll and yield to each other preempt one another
    /// and spend twice the CPU (see ``effectiveBusyPoll``).
    public var busyPoll: Duration?
    /// The busy poll with batch scheduling when ``busyPoll`` does not say, 50 µs.
    public static let defaultBusyPoll: Duration = .microseconds(50)

    /// Whether the sockets use CurveZMQ, and whether a plaintext ROUTER may bind beyond loopback.
    /// The default, plaintext anywhere, suits tests; nodes take theirs from the topology.
    public var security = TransportSecurity.plaintext(beyondLoopback: true)

    /// The queues of the ROUTER per peer: high-water marks and the byte budget of replies.
    public var peerLimits = PeerLimits.default

    /// The busy poll the I/O thread uses: ``busyPoll``, or the default for its scheduling policy.
    public var effectiveBusyPoll: Duration {
        busyPoll ?? (batchScheduling ? Self.defaultBusyPoll : .zero)
    }

    /// Default settings.
    public init() {}
}
