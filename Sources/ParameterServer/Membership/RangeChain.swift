/// The servers that hold one key range: the primary first, then its replicas in chain order (the
/// order updates flow in, see ``ReplicationChain``); the last one is the chain's tail.
public struct RangeChain: Hashable, Sendable, CustomStringConvertible {
    /// The keys of the range.
    public var range: KeyRange
    /// The primary, then the replicas; never empty.
    public var nodes: [NodeID]

    /// Creates a chain; `nodes` holds the primary first.
    public init(range: KeyRange, nodes: [NodeID]) {
        precondition(!nodes.isEmpty, "a chain needs a primary")
        self.range = range
        self.nodes = nodes
    }

    /// The server workers send the range's requests to: the chain's head.
    public var primary: NodeID { nodes[0] }
    /// The servers that keep copies of the range, in chain order.
    public var replicas: ArraySlice<NodeID> { nodes.dropFirst() }
    /// The last server of the chain; an update is on every copy once the tail has it.
    public var tail: NodeID { nodes[nodes.count - 1] }

    /// `[0, 100): node 1 → node 2 → node 3`.
    public var description: String { "\(range): \(nodes.map(\.description).joined(separator: " → "))" }
}

/// A range whose chain changed with a membership change: the directive to move its data.
///
/// Nodes in ``to`` but not in ``from`` must receive a copy of the range (values, updater state,
/// vector clocks and deduplication state) before they serve it; nodes in ``from`` but not in ``to``
/// may drop it once the new table is in force.
public struct ChainMove: Hashable, Sendable, CustomStringConvertible {
    /// The keys whose chain changed.
    public var range: KeyRange
    /// The chain before the change (primary first); may name a node that has just died.
    public var from: [NodeID]
    /// The chain after the change (primary first); empty when no server is left.
    public var to: [NodeID]

    /// Creates a move.
    public init(range: KeyRange, from: [NodeID], to: [NodeID]) {
        self.range = range
        self.from = from
        self.to = to
    }

    /// Whether the range has a new primary.
    public var primaryChanged: Bool { from.first != to.first }
    /// The servers that must receive the range, in chain order.
    public var receivers: [NodeID] { to.filter { !from.contains($0) } }
    /// The servers that no longer hold the range.
    public var releasers: [NodeID] { from.filter { !to.contains($0) } }

    /// `[0, 100): node 1 → node 2 ⇒ node 2 → node 3`.
    public var description: String {
        "\(range): \(from.map(\.description).joined(separator: " → ")) ⇒ \(to.map(\.description).joined(separator: " → "))"
    }
}
