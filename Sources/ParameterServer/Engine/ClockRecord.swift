/// One entry of a vector clock over a run of keys: `node`'s updates up to `timestamp` are applied
/// to the keys of `range`. How a clock's state travels with the values it describes, down a replica
/// chain and in a range copy (header field `vc`, docs/PROTOCOL.md section 15).
public struct ClockRecord: Hashable, Sendable, CustomStringConvertible {
    /// The node id the entry belongs to.
    public var node: Int
    /// The keys the entry holds for.
    public var range: KeyRange
    /// The node's latest update applied there.
    public var timestamp: Timestamp

    /// A record of `node`'s entry `timestamp` over `range`.
    public init(node: Int, range: KeyRange, timestamp: Timestamp) {
        self.node = node
        self.range = range
        self.timestamp = timestamp
    }

    /// `node 3: 17 on [0, 100)`.
    public var description: String { "node \(node): \(timestamp.rawValue) on \(range)" }
}
