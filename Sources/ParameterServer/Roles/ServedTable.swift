/// One table as a server holds it: a ``RangeStore`` and a ``VectorClock`` per range it holds, as
/// primary or as replica, and for a `bsp` table the ``BSPAggregator`` with the pushes of each open
/// iteration of each segment it heads (ServedTable+BSP.swift).
///
/// Lives on the server's I/O thread; a class so that the stores, clocks and sums are changed in place.
final class ServedTable {
    /// A push of a `bsp` table held until its iteration is applied: its acknowledgement, and the
    /// payload bytes it holds in its sender's budget (``HeldRequestBudget``).
    struct HeldPush {
        var reply: ChainReplication.HeldReply
        var bytes: Int
        /// Whether it took room in the budget (a push that completes its iteration takes none).
        var counted: Bool
    }

    /// A pull held until its iteration's aggregate is applied.
    struct HeldPull {
        var message: Message
        var peer: PeerAddress
    }

    let spec: TableSpec
    let updater: any Updater
    /// The stores of the ranges this server is the primary of, in key order.
    private(set) var stores: [RangeStore]
    /// The stores of the ranges this server holds as a replica (docs/FAULT-TOLERANCE.md), in key order.
    private(set) var replicas: [RangeStore]
    /// The clock of each store, primary or replica, by its range; none when the node table had no
    /// node ids to index (``keepsClocks``). Every clock has the same number of entries.
    private(set) var clocks: [KeyRange: VectorClock]
    /// Whether the stores have clocks.
    let keepsClocks: Bool
    /// The number of entries of every clock.
    private var nodeCount: Int
    var aggregator: BSPAggregator<HeldPush, HeldPull>?
    /// Per segment and open BSP iteration, the workers' pushes of its keys, summed in worker
    /// order when the iteration is complete.
    var contributions: [KeyRange: [Int64: [Contribution]]] = [:]

    init(
        spec: TableSpec, updater: any Updater, ranges: [KeyRange], replicaRanges: [KeyRange] = [], nodeCount: Int,
        workers: Set<NodeID>
    ) {
        self.spec = spec
        self.updater = updater
        stores = ranges.map { RangeStore(range: $0, valueLength: spec.valueLength, updater: updater) }
        replicas = replicaRanges.map { RangeStore(range: $0, valueLength: spec.valueLength, updater: updater) }
        keepsClocks = (ranges + replicaRanges).allSatisfy { !$0.isEmpty } && nodeCount > 0
        self.nodeCount = max(nodeCount, 1)
        clocks = [:]
        if keepsClocks {
            for range in ranges + replicaRanges { clocks[range] = VectorClock(range: range, nodeCount: nodeCount) }
        }
        if spec.consistency == .bsp {
            aggregator = BSPAggregator(workers: workers, segments: ranges)
            for store in stores + replicas { store.appliedIteration = -1 }
        }
    }

    var isBSP: Bool { aggregator != nil }

    /// Makes this server the primary of `range`, which it held as a replica: the replica's values,
    /// updater state and clock serve from now on. Returns false when no replica store holds exactly
    /// `range`.
    func promote(_ range: KeyRange) -> Bool {
        guard let index = replicas.firstIndex(where: { $0.range == range }) else { return false }
        let store = replicas.remove(at: index)
        let position = stores.firstIndex { $0.range.lowerBound > range.lowerBound } ?? stores.count
        stores.insert(store, at: position)
        if let applied = store.appliedIteration { aggregator?.addSegment(range, nextIteration: applied + 1) }
        return true
    }

    /// Makes this server a replica of `range`, which it was the primary of (a joiner took it over):
    /// the store keeps its values, updater state and clock.
    func demote(_ range: KeyRange) {
        guard let index = stores.firstIndex(where: { $0.range == range }) else { return }
        let store = stores.remove(at: index)
        let position = replicas.firstIndex { $0.range.lowerBound > range.lowerBound } ?? replicas.count
        replicas.insert(store, at: position)
    }

    /// Starts an empty replica of `range`, which its predecessor in the chain then copies whole.
    func addReplica(_ range: KeyRange) {
        guard !stores.contains(where: { $0.range == range }), !replicas.contains(where: { $0.range == range }) else { return }
        let position = replicas.firstIndex { $0.range.lowerBound > range.lowerBound } ?? replicas.count
        let store = RangeStore(range: range, valueLength: spec.valueLength, updater: updater)
        if isBSP { store.appliedIteration = -1 }
        replicas.insert(store, at: position)
        if keepsClocks { clocks[range] = VectorClock(range: range, nodeCount: nodeCount) }
    }

    /// Cuts every store, primary or replica, that holds one of `ranges` and more into pieces along
    /// them (``RangeStore/piece(_:)``), each with the values, updater state and clock entries it
    /// held, so that each of `ranges` gets a store of its own, as when a join cuts a segment of the
    /// ring.
    func split(toFit ranges: [KeyRange]) {
        func pieces(of store: RangeStore) -> [RangeStore]? {
            let cuts = Set(ranges.filter { !$0.isEmpty && store.range.contains($0) && $0 != store.range }
                .flatMap { [$0.lowerBound, $0.upperBound] })
            guard !cuts.isEmpty else { return nil }
            let bounds = Array(cuts.union([store.range.lowerBound, store.range.upperBound])).sorted()
            return zip(bounds, bounds.dropFirst()).map { store.piece(KeyRange($0, $1)) }
        }
        func cut(_ stores: [RangeStore]) -> [RangeStore] {
            stores.flatMap { store -> [RangeStore] in
                guard let cut = pieces(of: store) else { return [store] }
                if let clock = clocks.removeValue(forKey: store.range) {
                    for piece in cut { clocks[piece.range] = clock.piece(piece.range) }
                }
                return cut
            }
        }
        let primaries = stores.map(\.range)
        stores = cut(stores)
        replicas = cut(replicas)
        for range in primaries where !stores.contains(where: { $0.range == range }) {
            splitIterations(of: range, into: stores.map(\.range).filter { range.contains($0) })
        }
    }

    /// Frees the stores of the ranges this server no longer holds, primary or replica.
    func keepOnly(primaries: Set<KeyRange>, replicaRanges: Set<KeyRange>) {
        stores = stores.filter { primaries.contains($0.range) }
        replicas = replicas.filter { replicaRanges.contains($0.range) }
        clocks = clocks.filter { primaries.contains($0.key) || replicaRanges.contains($0.key) }
    }

    /// Records that `sender`'s push with `timestamp` was applied to the keys of `spans`. A sender whose
    /// id lies beyond the clocks (a node that joined after the server configured) widens them; an
    /// unassigned sender has no entry (headers bound every other id by ``WireLimits/maxNodeID``).
    func recordApplied(sender: NodeID, timestamp: Int64, spans: [(store: Int, keys: KeyRange)]) {
        guard timestamp > 0, keepsClocks, sender != .unassigned else { return }
        widenClocks(toInclude: Int(sender.rawValue))
        for (store, keys) in spans where !keys.isEmpty {
            clocks[stores[store].range]?.apply(node: Int(sender.rawValue), range: keys, timestamp: Timestamp(timestamp))
        }
    }

    /// The clock entry a request with `header` that changed the keys of `span` recorded
    /// (``recordApplied(sender:timestamp:spans:)``), `nil` when it recorded none.
    func clockRecord(of header: Header, span: KeyRange) -> ClockRecord? {
        guard header.timestamp > 0, keepsClocks, header.sender != .unassigned, !span.isEmpty else { return nil }
        return ClockRecord(node: Int(header.sender.rawValue), range: span, timestamp: Timestamp(header.timestamp))
    }

    /// Applies the clock entries a replicate or a range copy carries to the clock of the store of
    /// `range`: the replica's clock follows its primary's.
    func applyClockRecords(_ records: [ClockRecord], to range: KeyRange) {
        guard keepsClocks, let highest = records.map(\.node).max() else { return }
        widenClocks(toInclude: highest)
        clocks[range]?.apply(records)
    }

    /// Applies the clock entries of a replicate that bundles the results of several ranges to the
    /// clocks of `ranges` (stores of this table, disjoint): each clock gets, in their order, the
    /// entries that overlap its range — the others it would clip away. One pass over the entries
    /// instead of one per range: a bundle of n ranges' results carries the entries of all n.
    func applyClockRecords(_ records: [ClockRecord], toEach ranges: [KeyRange]) {
        guard keepsClocks, let highest = records.map(\.node).max() else { return }
        widenClocks(toInclude: highest)
        let order = ranges.indices.sorted { ranges[$0].lowerBound < ranges[$1].lowerBound }
        var perRange = [[ClockRecord]](repeating: [], count: ranges.count)
        for record in records where !record.range.isEmpty {
            // The last range starting at or before the entry's first key, then those it reaches.
            var low = 0
            var high = order.count
            while low < high {
                let middle = (low + high) / 2
                if ranges[order[middle]].lowerBound <= record.range.lowerBound { low = middle + 1 } else { high = middle }
            }
            var position = max(low - 1, 0)
            while position < order.count, ranges[order[position]].lowerBound < record.range.upperBound {
                let index = order[position]
                if record.range.lowerBound < ranges[index].upperBound { perRange[index].append(record) }
                position += 1
            }
        }
        for (index, range) in ranges.enumerated() where !perRange[index].isEmpty {
            clocks[range]?.apply(perRange[index])
        }
    }

    /// The clock entries of the store of `range` over `keys`, at most `limit` (``VectorClock/records(in:limit:)``).
    func clockRecords(of range: KeyRange, in keys: KeyRange, limit: Int) -> [ClockRecord] {
        clocks[range]?.records(in: keys, limit: limit) ?? []
    }

    /// Gives every clock an entry for node `node` (a node that joined after the server configured).
    private func widenClocks(toInclude node: Int) {
        guard node >= nodeCount else { return }
        nodeCount = node + 1
        for range in clocks.keys { clocks[range]?.extend(toNodeCount: nodeCount) }
    }

    /// The elementwise minimum of the clocks of `spans` (every store's whole range when `spans` is
    /// empty), or `nil` when the server keeps no clock.
    func clock(of spans: [(store: Int, keys: KeyRange)]) -> [Int64]? {
        guard keepsClocks else { return nil }
        let read = spans.isEmpty ? stores.indices.map { ($0, stores[$0].range) } : spans
        var result: [Int64]?
        for (store, keys) in read {
            guard let part = clocks[stores[store].range]?.clock(of: keys) else { continue }
            result = result.map { VectorClock.elementwiseMinimum($0, part) } ?? part
        }
        return result
    }
}
