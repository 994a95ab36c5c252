import ZeroMQ

/// A server's check that a request's sender id belongs to the connection it came on: each member's
/// ``ConnectionIdentity`` as the manager recorded it at registration (the server's node table).
///
/// A refused request is answered with `wrongConnection` and goes nowhere else: it is neither
/// applied nor put in its sender's order, so an impostor cannot use up, or answer from the cache,
/// the request ids of the node it claims to be. Refusals are counted; ``countRefusal()`` says when one
/// deserves a log line (the 1st, 2nd, 4th, 8th, …), so a peer sending many cannot flood the log.
struct SenderBinding {
    /// Each member's connection, by id; members without one (a table from a manager that records
    /// none) are not checked.
    private(set) var connections: [NodeID: ConnectionIdentity] = [:]
    /// Requests refused so far.
    private(set) var refused = 0

    /// Takes the connections of `table`'s members (a whole table: members it does not list are dropped).
    mutating func update(_ table: NodeTable) {
        connections.removeAll(keepingCapacity: true)
        for node in table.nodes {
            if let identity = ConnectionIdentity(node) { connections[node.id] = identity }
        }
    }

    /// Takes the connection of `node`, a member added or changed by a change of the table.
    mutating func add(_ node: NodeInfo) {
        connections[node.id] = ConnectionIdentity(node)
    }

    /// Whether data requests of `kind` are checked: those that read or change the stores, and the
    /// copies servers send down their chains.
    static func checks(_ kind: MessageKind) -> Bool {
        switch kind {
        case .push, .pull, .rangeFunction, .replicate: true
        default: false
        }
    }

    /// The error for a request of `sender` that came from `peer` with `publicKey`, or `nil` when
    /// the connection is `sender`'s own (or the table records none for it).
    func violation(sender: NodeID, peer: PeerAddress, publicKey: CurveKey?) -> WireError? {
        guard let identity = connections[sender], !identity.admits(peer, publicKey: publicKey) else { return nil }
        let routed: Bool
        if case .routed(let routingID) = peer { routed = identity.routingID == routingID } else { routed = false }
        let reason = routed ? "its public key differs" : "its routing id differs"
        return WireError(
            .wrongConnection, field: "s",
            "\(sender) registered from another connection (\(reason)); nothing of this request is applied")
    }

    /// Counts a refusal; returns true when it is one to log (the 1st, 2nd, 4th, 8th, …).
    mutating func countRefusal() -> Bool {
        refused += 1
        return refused & (refused - 1) == 0
    }
}
