/// A consistent-hash ring over the ordered key space, with virtual nodes whose tokens the manager
/// places (OSDI'14 §4.3).
///
/// The key space `[lower, upper)` is a ring. Each server holds several *tokens* (its virtual nodes);
/// a token owns the ordered keys from its position up to the next token's, so every assignment is a
/// list of ordered key ranges and range requests keep working.
///
/// Tokens are not hashed: hashed tokens leave the busiest of S servers with about `1 + c/√V` times
/// the mean. The manager places them instead, deterministically from the servers' join order:
/// - the first server's ``virtualNodes`` tokens split the key space evenly;
/// - a joining server takes `⌊N/(S+1)⌋` keys by *water-filling from the top*: the busiest servers
///   give down to a common level, each in about `V·give/Q` pieces cut from the tail of its largest
///   segments (a new token inside the segment). Keys therefore move only from old servers to the new
///   one, exactly `⌊N/(S+1)⌋` of them, and afterwards every server that gave holds the level (±1 key);
/// - a leaving server's segments each pass to another server, by default the next one clockwise
///   (the first of ``successors(of:count:)``); ``Membership`` passes the first surviving replica of
///   each segment's chain, so only the leaver's keys move and a replica is promoted without a copy.
///
/// Balance after joins is exact up to one key whatever `V`; ``virtualNodes`` sets how finely a
/// server's share is cut, and so over how many servers a dead server's load and replicas spread.
/// A removal leaves the heirs busier: the busiest holds up to 1.17–1.34× the mean (3 to 32
/// servers, the worst of removing each one) with the default `V` of 8, and about the same with
/// 4, 16 or 32 (1.14–1.39×). ``rebalance(tolerance:)`` evens that out later, moving keys only from
/// servers above the mean to servers below it.
///
/// A value type with no I/O: the manager owns one and broadcasts what it assigns.
public struct HashRing: Hashable, Sendable {
    /// One virtual node: the start of a segment and the server that owns it.
    public struct Token: Hashable, Sendable {
        /// The first key of the segment the token owns.
        public var position: UInt64
        /// The server the token belongs to.
        public var owner: NodeID
    }

    /// A segment of the ring: the keys from one token to the next, and their owner.
    public struct Segment: Hashable, Sendable, CustomStringConvertible {
        /// The keys of the segment.
        public var range: KeyRange
        /// The server that owns them.
        public var owner: NodeID
        /// `[0, 100) → node 3`.
        public var description: String { "\(range) → \(owner)" }
    }

    /// The number of virtual nodes per server when a topology gives none. Balance does not depend on
    /// it, nor, in practice, the balance after a removal (see the type's documentation); 8 cuts a
    /// server's share into about 8 segments, so the load and the replicas of a dead server spread
    /// over up to 8 others. Every segment costs a little on every request that touches it (a store
    /// to apply to, a clock entry, with replication a result to read, send, write and record), so
    /// more only costs: the default sparse-LR job ran 1.1× faster than with 32 at `replication: 0`
    /// and 1.17× at `replication: 1` (bench/README.md).
    public static let defaultVirtualNodes = 8

    /// The keys the ring covers.
    public let keySpace: KeyRange
    /// How many tokens each server contributes when it joins.
    public let virtualNodes: Int
    /// The tokens, sorted by position. When the ring has a server, the first token sits at
    /// `keySpace.lowerBound`, so no segment wraps around.
    public private(set) var tokens: [Token] = []
    /// The servers on the ring, in join order.
    public private(set) var servers: [NodeID] = []

    /// An empty ring over `keySpace` (at least one key).
    public init(keySpace: KeyRange = .all, virtualNodes: Int = HashRing.defaultVirtualNodes) {
        precondition(!keySpace.isEmpty, "a hash ring needs at least one key")
        precondition(virtualNodes >= 1, "a hash ring needs at least one virtual node per server")
        self.keySpace = keySpace
        self.virtualNodes = virtualNodes
    }

    /// A ring that `servers` joined in this order.
    public init(servers: [NodeID], keySpace: KeyRange = .all, virtualNodes: Int = HashRing.defaultVirtualNodes) {
        self.init(keySpace: keySpace, virtualNodes: virtualNodes)
        for server in servers { add(server) }
    }

    /// Whether `server` is on the ring.
    public func contains(_ server: NodeID) -> Bool { servers.contains(server) }

    // MARK: Lookup

    /// The index of the token whose segment holds `key`, in O(log n); `nil` when the ring is empty
    /// or the key lies outside ``keySpace``.
    public func tokenIndex(containing key: UInt64) -> Int? {
        guard !tokens.isEmpty, keySpace.contains(key) else { return nil }
        var low = 0
        var high = tokens.count  // the answer is the last token with position <= key
        while high - low > 1 {
            let middle = (low + high) / 2
            if tokens[middle].position <= key { low = middle } else { high = middle }
        }
        return low
    }

    /// The server that owns `key`, in O(log n); `nil` when the ring is empty or the key lies outside
    /// ``keySpace``.
    public func owner(of key: UInt64) -> NodeID? {
        tokenIndex(containing: key).map { tokens[$0].owner }
    }

    /// The keys of the segment that starts at token `index`.
    public func segmentRange(at index: Int) -> KeyRange {
        KeyRange(tokens[index].position, index + 1 < tokens.count ? tokens[index + 1].position : keySpace.upperBound)
    }

    /// Every segment in key order, one per token.
    public var segments: [Segment] {
        tokens.indices.map { Segment(range: segmentRange(at: $0), owner: tokens[$0].owner) }
    }

    /// The ranges `server` owns: sorted, disjoint, adjacent ones merged.
    public func ranges(of server: NodeID) -> [KeyRange] {
        var result: [KeyRange] = []
        for index in tokens.indices where tokens[index].owner == server {
            let range = segmentRange(at: index)
            if let last = result.last, last.upperBound == range.lowerBound {
                result[result.count - 1].upperBound = range.upperBound
            } else {
                result.append(range)
            }
        }
        return result
    }

    /// The number of keys `server` owns.
    public func load(of server: NodeID) -> UInt64 {
        var total: UInt64 = 0
        for index in tokens.indices where tokens[index].owner == server { total += segmentRange(at: index).count }
        return total
    }

    /// The `count` distinct servers after the owner of `range` going clockwise (paper §4.4: the
    /// servers that keep the range's replicas), nearest first; fewer when the ring has fewer other
    /// servers. `range` must lie inside one segment, as the ranges of ``segments`` do.
    public func successors(of range: KeyRange, count: Int) -> [NodeID] {
        guard let index = tokenIndex(containing: range.lowerBound) else { return [] }
        precondition(
            range.isEmpty || segmentRange(at: index).contains(range), "\(range) spans more than one segment of the ring")
        return successors(ofTokenAt: index, count: count)
    }

    /// The `count` distinct servers clockwise after token `index`'s owner, nearest first.
    public func successors(ofTokenAt index: Int, count: Int) -> [NodeID] {
        let owner = tokens[index].owner
        var result: [NodeID] = []
        guard count > 0 else { return result }
        var next = index
        for _ in 1..<max(tokens.count, 1) {
            next = next + 1 == tokens.count ? 0 : next + 1
            let candidate = tokens[next].owner
            if candidate != owner, !result.contains(candidate) {
                result.append(candidate)
                if result.count == count { break }
            }
        }
        return result
    }

    // MARK: Changes

    /// Adds `server`: it takes `⌊N/(S+1)⌋` keys from the busiest servers, only from them, in about
    /// ``virtualNodes`` pieces. `server` must not be on the ring.
    public mutating func add(_ server: NodeID) {
        precondition(!servers.contains(server), "\(server) is already on the ring")
        defer { servers.append(server) }
        if servers.isEmpty {
            let parts = keySpace.split(into: Int(min(UInt64(virtualNodes), keySpace.count)))
            tokens = parts.map { Token(position: $0.lowerBound, owner: server) }
            return
        }
        let quota = keySpace.count / UInt64(servers.count + 1)
        guard quota > 0 else { return }
        for (giver, amount) in Self.gifts(loads: servers.map { ($0, load(of: $0)) }, quota: quota) {
            let share = Double(virtualNodes) * Double(amount) / Double(quota)
            let pieces = max(1, min(Int(share.rounded()), Int(min(amount, UInt64(Int.max)))))
            for piece in KeyRange(0, amount).split(into: pieces) where !piece.isEmpty {
                take(piece.count, from: giver, to: server)
            }
        }
    }

    /// Removes `server`: each of its segments passes to another server, by default the next one
    /// clockwise (its first successor), so only its keys move. Removing the last server empties the ring.
    ///
    /// - Parameter heir: for the index of one of `server`'s tokens, the server that takes the segment
    ///   (the first surviving replica of the segment's chain, see ``Membership``); `nil` picks the
    ///   first successor. It must name another server on the ring.
    public mutating func remove(_ server: NodeID, heir: (Int) -> NodeID? = { _ in nil }) {
        precondition(servers.contains(server), "\(server) is not on the ring")
        servers.removeAll { $0 == server }
        guard !servers.isEmpty else {
            tokens = []
            return
        }
        let heirs = tokens.indices.map { index -> NodeID? in
            guard tokens[index].owner == server else { return nil }
            guard let chosen = heir(index) else { return successors(ofTokenAt: index, count: 1).first }
            precondition(chosen != server && servers.contains(chosen), "\(chosen) cannot take a segment of \(server)")
            return chosen
        }
        for index in tokens.indices {
            if let heir = heirs[index] { tokens[index].owner = heir }
        }
    }

    /// Evens out the ring after removals, which leave the heirs of a dead server busier: while the
    /// busiest server holds more than `(1 + tolerance)` times the mean, it gives the least busy one
    /// keys (cut from its largest segments, in about ``virtualNodes``·share pieces) until one of them
    /// reaches the mean. Keys move only from servers above the mean to servers below it. Returns
    /// whether anything moved.
    @discardableResult
    public mutating func rebalance(tolerance: Double = 0.05) -> Bool {
        precondition(tolerance >= 0, "the tolerance must not be negative")
        guard servers.count > 1 else { return false }
        let mean = keySpace.count / UInt64(servers.count)
        let ceiling = mean + UInt64((Double(mean) * tolerance).rounded(.down))
        var moved = false
        while true {
            let loads = servers.map { load(of: $0) }
            let busiest = loads.indices.max { loads[$0] < loads[$1] }!  // the first joiner on ties
            let lightest = loads.indices.min { loads[$0] < loads[$1] }!
            guard loads[busiest] > ceiling, loads[lightest] < mean else { return moved }
            let amount = min(loads[busiest] - mean, mean - loads[lightest])
            let share = Double(virtualNodes) * Double(amount) / Double(max(mean, 1))
            let pieces = max(1, min(Int(share.rounded()), Int(min(amount, UInt64(Int.max)))))
            for piece in KeyRange(0, amount).split(into: pieces) where !piece.isEmpty {
                take(piece.count, from: servers[busiest], to: servers[lightest])
            }
            moved = true
        }
    }

    /// How many keys each of the busiest servers gives so that together they give `quota` and each
    /// ends at a common level (±1): water-filling from the top. Ties go to the earlier joiner.
    static func gifts(loads: [(NodeID, UInt64)], quota: UInt64) -> [(NodeID, UInt64)] {
        let sorted = loads.enumerated().sorted { a, b in
            a.element.1 != b.element.1 ? a.element.1 > b.element.1 : a.offset < b.offset
        }.map(\.element)
        var prefix: UInt64 = 0
        var level: UInt64 = 0
        var givers = 0
        for (index, entry) in sorted.enumerated() {
            prefix += entry.1
            givers = index + 1
            guard prefix >= quota else { continue }
            level = (prefix - quota) / UInt64(givers)
            if index + 1 == sorted.count || level >= sorted[index + 1].1 { break }
        }
        var gifts = sorted.prefix(givers).map { ($0.0, $0.1 > level ? $0.1 - level : 0) }
        var excess = gifts.reduce(0) { $0 + $1.1 } - quota
        var index = 0
        while excess > 0 {
            if gifts[index].1 > 0 {
                gifts[index].1 -= 1
                excess -= 1
            }
            index = (index + 1) % gifts.count
        }
        return gifts.filter { $0.1 > 0 }
    }

    /// Moves `amount` keys from `giver` to `taker`, from the tail of the giver's largest segment
    /// (a new token), or whole segments when the largest is not larger than what is left to take.
    private mutating func take(_ amount: UInt64, from giver: NodeID, to taker: NodeID) {
        var needed = amount
        while needed > 0 {
            var largest = -1
            var largestSize: UInt64 = 0
            for index in tokens.indices where tokens[index].owner == giver {
                let size = segmentRange(at: index).count
                if size > largestSize {
                    largest = index
                    largestSize = size
                }
            }
            precondition(largest >= 0, "\(giver) has no keys left to give")
            if largestSize > needed {
                let position = segmentRange(at: largest).upperBound - needed
                tokens.insert(Token(position: position, owner: taker), at: largest + 1)
                needed = 0
            } else {
                tokens[largest].owner = taker
                needed -= largestSize
            }
        }
    }
}
