import ZeroMQ

/// What identifies the connection a message arrived on, as far as a node can prove it: the routing
/// id the sender's DEALER chose (``SocketIO`` gives every DEALER of a node the same one, so each
/// ROUTER it reaches knows it by that id) and, under CurveZMQ, the public key its connection
/// authenticated with.
///
/// The manager records it when a node registers and gives it to the servers (node table fields
/// `rid` and `pk`, in the servers' copies only), which then accept a data request with sender `s`
/// only from the connection `s` registered from (``SenderBinding``). docs/PROTOCOL.md, section
/// 7.8, says what that guarantees in plaintext and under CURVE.
public struct ConnectionIdentity: Hashable, Sendable {
    /// The routing id the peer chose (never starting with a zero byte).
    public var routingID: [UInt8]
    /// The public key the connection authenticated with; `nil` in plaintext.
    public var publicKey: CurveKey?

    /// Creates an identity.
    public init(routingID: [UInt8], publicKey: CurveKey?) {
        self.routingID = routingID
        self.publicKey = publicKey
    }

    /// The identity of a message from `peer` that came with `publicKey`; `nil` for a reply on a
    /// DEALER, and for a connection whose routing id libzmq made up (a peer that did not set
    /// `ZMQ_ROUTING_ID`: such ids start with a zero byte and differ at every ROUTER).
    public init?(peer: PeerAddress, publicKey: CurveKey?) {
        guard case .routed(let routingID) = peer, let first = routingID.first, first != 0 else { return nil }
        self.init(routingID: routingID, publicKey: publicKey)
    }

    /// The identity a node table entry records, if any.
    public init?(_ node: NodeInfo) {
        guard let routingID = node.routingID else { return nil }
        self.init(routingID: routingID, publicKey: node.publicKey)
    }

    /// Whether a message from `peer` with `publicKey` came on this connection.
    public func admits(_ peer: PeerAddress, publicKey: CurveKey?) -> Bool {
        guard case .routed(let routingID) = peer, routingID == self.routingID else { return false }
        return self.publicKey == nil || publicKey == self.publicKey
    }
}
