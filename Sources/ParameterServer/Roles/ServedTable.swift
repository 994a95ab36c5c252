/// One table as a server holds it: a ``RangeStore`` and a ``VectorClock`` per owned range, and for a
/// `bsp` table the ``BSPAggregator`` with the running sum of each open iteration.
///
/// Lives on the server's I/O thread; a class so that the stores, clocks and sums are changed in place.
final class ServedTable {
    /// A push waiting in a BSP iteration: who sent it and which keys it covered, for the clock.
    struct HeldPush {
        var sender: NodeID
        var timestamp: Int64
        var spans: [(store: Int, keys: KeyRange)]
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
    /// One clock per store, over the same range; `nil` when the node table had no node ids to index.
    private(set) var clocks: [VectorClock]
    var aggregator: BSPAggregator<HeldPush, HeldPull>?
    /// The sum and the pushes of each open BSP iteration.
    var sums: [Int64: (sum: IterationSum, pushes: [HeldPush])] = [:]

    init(
        spec: TableSpec, updater: any Updater, ranges: [KeyRange], replicaRanges: [KeyRange] = [], nodeCount: Int,
        workers: Set<NodeID>
    ) {
        self.spec = spec
        self.updater = updater
        stores = ranges.map { RangeStore(range: $0, valueLength: spec.valueLength, updater: updater) }
        replicas = replicaRanges.map { RangeStore(range: $0, valueLength: spec.valueLength, updater: updater) }
        clocks = ranges.filter { !$0.isEmpty }.count == ranges.count && nodeCount > 0
            ? ranges.map { VectorClock(range: $0, nodeCount: nodeCount) } : []
        if spec.consistency == .bsp {
            aggregator = BSPAggregator(workers: workers)
        }
    }

    var isBSP: Bool { aggregator != nil }

    /// Makes this server the primary of `range`, which it held as a replica: the replica's values
    /// and updater state serve from now on. Its clock starts empty (the clocks of a replica are
    /// not kept). Returns false when no replica store holds exactly `range`.
    func promote(_ range: KeyRange) -> Bool {
        guard let index = replicas.firstIndex(where: { $0.range == range }) else { return false }
        let store = replicas.remove(at: index)
        let position = stores.firstIndex { $0.range.lowerBound > range.lowerBound } ?? stores.count
        stores.insert(store, at: position)
        if !clocks.isEmpty { clocks.insert(VectorClock(range: range, nodeCount: clocks[0].nodeCount), at: position) }
        return true
    }

    /// Makes this server a replica of `range`, which it was the primary of (a joiner took it over):
    /// the store keeps its values and updater state; its clock is dropped, as a replica keeps none.
    func demote(_ range: KeyRange) {
        guard let index = stores.firstIndex(where: { $0.range == range }) else { return }
        let store = stores.remove(at: index)
        if !clocks.isEmpty { clocks.remove(at: index) }
        let position = replicas.firstIndex { $0.range.lowerBound > range.lowerBound } ?? replicas.count
        replicas.insert(store, at: position)
    }

    /// Starts an empty replica of `range`, which its predecessor in the chain then copies whole.
    func addReplica(_ range: KeyRange) {
        guard !stores.contains(where: { $0.range == range }), !replicas.contains(where: { $0.range == range }) else { return }
        let position = replicas.firstIndex { $0.range.lowerBound > range.lowerBound } ?? replicas.count
        replicas.insert(RangeStore(range: range, valueLength: spec.valueLength, updater: updater), at: position)
    }

    /// Cuts every store, primary or replica, that holds one of `ranges` and more into pieces along
    /// them (``RangeStore/piece(_:)``), each with the values and updater state it held, so that each
    /// of `ranges` gets a store of its own, as when a join cuts a segment of the ring. A primary
    /// piece's clock starts empty, as a promoted range's does.
    func split(toFit ranges: [KeyRange]) {
        func pieces(of store: RangeStore) -> [RangeStore]? {
            let cuts = Set(ranges.filter { !$0.isEmpty && store.range.contains($0) && $0 != store.range }
                .flatMap { [$0.lowerBound, $0.upperBound] })
            guard !cuts.isEmpty else { return nil }
            let bounds = Array(cuts.union([store.range.lowerBound, store.range.upperBound])).sorted()
            return zip(bounds, bounds.dropFirst()).map { store.piece(KeyRange($0, $1)) }
        }
        var newStores: [RangeStore] = []
        var newClocks: [VectorClock] = []
        for (index, store) in stores.enumerated() {
            guard let cut = pieces(of: store) else {
                newStores.append(store)
                if !clocks.isEmpty { newClocks.append(clocks[index]) }
                continue
            }
            newStores += cut
            if !clocks.isEmpty { newClocks += cut.map { VectorClock(range: $0.range, nodeCount: clocks[index].nodeCount) } }
        }
        stores = newStores
        clocks = newClocks
        replicas = replicas.flatMap { pieces(of: $0) ?? [$0] }
    }

    /// Frees the stores of the ranges this server no longer holds, primary or replica.
    func keepOnly(primaries: Set<KeyRange>, replicaRanges: Set<KeyRange>) {
        let kept = stores.indices.filter { primaries.contains(stores[$0].range) }
        if !clocks.isEmpty { clocks = kept.map { clocks[$0] } }
        stores = kept.map { stores[$0] }
        replicas = replicas.filter { replicaRanges.contains($0.range) }
    }

    /// Records that `sender`'s push with `timestamp` was applied to the keys of `spans`. A sender whose
    /// id lies beyond the clocks (a node that joined after the server configured) widens them; an
    /// unassigned sender has no entry (headers bound every other id by ``WireLimits/maxNodeID``).
    func recordApplied(sender: NodeID, timestamp: Int64, spans: [(store: Int, keys: KeyRange)]) {
        guard timestamp > 0, !clocks.isEmpty, sender != .unassigned else { return }
        if Int(sender.rawValue) >= clocks[0].nodeCount {
            for index in clocks.indices { clocks[index].extend(toNodeCount: Int(sender.rawValue) + 1) }
        }
        for (store, keys) in spans where !keys.isEmpty {
            clocks[store].apply(node: Int(sender.rawValue), range: keys, timestamp: Timestamp(timestamp))
        }
    }

    /// The elementwise minimum of the clocks of `spans` (every store's whole range when `spans` is
    /// empty), or `nil` when the server keeps no clock.
    func clock(of spans: [(store: Int, keys: KeyRange)]) -> [Int64]? {
        guard !clocks.isEmpty else { return nil }
        let read = spans.isEmpty ? clocks.indices.map { ($0, clocks[$0].range) } : spans
        var result: [Int64]?
        for (store, keys) in read {
            guard let part = clocks[store].clock(of: keys) else { continue }
            result = result.map { VectorClock.elementwiseMinimum($0, part) } ?? part
        }
        return result
    }

    /// Applies the sum of a complete BSP iteration to the stores once, then records its pushes in the
    /// clocks.
    func applyAggregate(iteration: Int64) {
        guard let (sum, pushes) = sums.removeValue(forKey: iteration) else { return }
        let width = spec.valueLength
        sum.keys.withUnsafeBufferPointer { keys in
            sum.values.withUnsafeBufferPointer { values in
                // Every key was checked against the stores when its push arrived.
                var index = 0
                while index < keys.count, let store = stores.first(where: { $0.range.contains(keys[index]) }) {
                    var end = index + 1
                    while end < keys.count && store.range.contains(keys[end]) { end += 1 }
                    store.push(
                        keys: UnsafeRawPointer(keys.baseAddress! + index), count: end - index,
                        values: UnsafeRawPointer(values.baseAddress! + index * width), updater: updater)
                    index = end
                }
            }
        }
        for push in pushes { recordApplied(sender: push.sender, timestamp: push.timestamp, spans: push.spans) }
    }
}
