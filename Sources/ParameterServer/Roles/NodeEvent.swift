import ZeroMQ

/// What happens to a node, as its role's state machine takes it in (``RoleMachine``).
public enum NodeEvent {
    /// The node's loop began; nothing has arrived yet.
    case started
    /// A message arrived from `peer`: its header and payload frames (no envelope).
    case received([Frame], from: PeerAddress)
    /// Time passed (at least every ``TransportSettings/tickInterval``): deadlines and heartbeats.
    case tick
    /// The messages that had arrived are handled and the transport is about to wait for more: the
    /// moment to send what the machine gathered from them (a server's replication batch).
    case drained
    /// A send the machine asked for could not be carried out (e.g. a peer that cannot be reached).
    case sendFailed(NodeDirective, error: any Error)
}

/// What the world looks like when an event happens: the time, the node's own endpoint and, for a
/// message, who sent it as the transport proved it. A machine reads them from here, never from a
/// clock or a socket.
public struct NodeContext: Sendable {
    /// The time of the event: the real continuous clock, or a test's fake one.
    public var now: ContinuousClock.Instant
    /// The endpoint this node's ROUTER is bound to.
    public var localEndpoint: String
    /// For ``NodeEvent/received(_:from:)`` on a CURVE ROUTER: the public key the sender proved it
    /// holds the secret of, as the node's ZAP handler admitted it (``Frame/curvePublicKey``).
    /// `nil` for other events, plaintext connections, and replies arriving on DEALERs.
    public var peerPublicKey: CurveKey?
    /// For ``NodeEvent/received(_:from:)``: the most payload bytes a reply to the sender may have
    /// now without being dropped because the sender does not read its replies
    /// (``TransportIO/replyRoom(for:)``); `nil` when any reply would go, and for other events.
    public var replyRoom: Int?

    /// Creates a context.
    public init(now: ContinuousClock.Instant, localEndpoint: String, peerPublicKey: CurveKey? = nil, replyRoom: Int? = nil) {
        self.now = now
        self.localEndpoint = localEndpoint
        self.peerPublicKey = peerPublicKey
        self.replyRoom = replyRoom
    }
}
