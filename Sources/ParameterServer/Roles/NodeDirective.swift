import ZeroMQ

/// What a role's state machine asks its shell to do: the machine never touches a socket, it
/// returns these and the shell (``RoleShell``) carries them out, in order, over the transport.
public enum NodeDirective {
    /// Sends a message of `header` followed by the `payload` frames to `peer`.
    case send(Header, payload: [Frame], to: PeerAddress, onFailure: SendFailurePolicy)
    /// Sends already encoded frames (header frame first) to `peer`.
    case sendFrames([Frame], to: PeerAddress, onFailure: SendFailurePolicy)
    /// Ends the node's I/O loop after the current event; what was sent before is flushed first.
    case stop

    /// The peer a send goes to (`nil` for a stop).
    public var peer: PeerAddress? {
        switch self {
        case .send(_, _, let peer, _), .sendFrames(_, let peer, _): peer
        case .stop: nil
        }
    }

    /// What the machine does when the send fails (`nil` for a stop).
    public var onFailure: SendFailurePolicy? {
        switch self {
        case .send(_, _, _, let policy), .sendFrames(_, _, let policy): policy
        case .stop: nil
        }
    }

    /// The header of the message sent, decoded again from the frames of a ``sendFrames(_:to:onFailure:)``
    /// (`nil` for a stop or frames without a readable header): for logs of failed sends.
    public var header: Header? {
        switch self {
        case .send(let header, _, _, _): header
        case .sendFrames(let frames, _, _): frames.first.flatMap { try? HeaderCodec.decode($0) }
        case .stop: nil
        }
    }
}

/// What a failed send means to the machine that asked for it; the shell hands it back with the
/// failure (``NodeEvent/sendFailed(_:error:)``).
public enum SendFailurePolicy: Hashable, Sendable {
    /// Membership traffic with the manager (registration, heartbeats, reports): a node that cannot
    /// send it fails and stops.
    case fatal
    /// An answer, a notice or a copy whose loss the peer or a later retry recovers from: logged.
    case logged
    /// The first sending of a request slice to `server`, under the header's request id: its task
    /// fails.
    case request(server: NodeID)
    /// A worker's barrier request: the barrier call fails.
    case barrier
}
