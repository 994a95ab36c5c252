/// Range functions (docs/PROTOCOL.md section 14) on the stores of a served table.
extension ServedTable {
    /// Runs `function` on every stored value of `range` and records the call in the clocks like a
    /// push from `sender` at `timestamp`; returns how many keys it touched.
    func apply(_ function: any RangeFunction, on range: KeyRange, sender: NodeID, timestamp: Int64) -> Int {
        var touched = 0
        var spans: [(store: Int, keys: KeyRange)] = []
        for (index, store) in stores.enumerated() {
            let covered = range.intersection(store.range)
            guard !covered.isEmpty else { continue }
            touched += store.apply(function, on: covered)
            spans.append((index, covered))
        }
        recordApplied(sender: sender, timestamp: timestamp, spans: spans)
        return touched
    }
}
