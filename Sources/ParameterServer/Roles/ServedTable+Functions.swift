/// Range functions (docs/PROTOCOL.md section 14) on the stores of a served table.
extension ServedTable {
    /// The indices of the stores that hold part of `range`.
    func stores(covering range: KeyRange) -> [Int] {
        stores.indices.filter { !range.intersection(stores[$0].range).isEmpty }
    }

    /// Runs `function` on every stored value of `range` in the stores `only` (every store when
    /// `nil`) and records the call, where it touched keys, in the clocks like a push from `sender`
    /// at `timestamp`; returns how many keys it touched.
    func apply(_ function: any RangeFunction, on range: KeyRange, only: [Int]? = nil, sender: NodeID, timestamp: Int64) -> Int {
        var touched = 0
        var spans: [(store: Int, keys: KeyRange)] = []
        for index in only ?? Array(stores.indices) {
            let store = stores[index]
            let covered = range.intersection(store.range)
            guard !covered.isEmpty else { continue }
            let count = store.apply(function, on: covered)
            if count > 0 { spans.append((index, covered)) }
            touched += count
        }
        recordApplied(sender: sender, timestamp: timestamp, spans: spans)
        return touched
    }
}
