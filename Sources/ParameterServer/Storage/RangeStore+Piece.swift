extension RangeStore {
    /// The part of this store over `subrange` (inside ``range``) as a store of its own, with the
    /// values and updater state of every key this store holds there: what a server keeps when a
    /// join cuts a segment of the ring in two (docs/FAULT-TOLERANCE.md, "Joins"). A store nothing
    /// was written to gives an untouched piece, with nothing read.
    public func piece(_ subrange: KeyRange) -> RangeStore {
        precondition(range.contains(subrange), "\(subrange) is not inside the store's range \(range)")
        let piece = RangeStore(range: subrange, valueLength: valueLength, updater: updater)
        piece.resultSequence = resultSequence
        piece.appliedIteration = appliedIteration
        guard !isUntouched else { return piece }
        let keys = storedKeys(in: subrange)
        guard !keys.isEmpty else { return piece }
        var entries = [Float](repeating: 0, count: keys.count * entryWidth)
        keys.withUnsafeBytes { raw in
            entries.withUnsafeMutableBufferPointer { readEntries(keys: raw.baseAddress!, count: keys.count, into: $0.baseAddress!) }
            entries.withUnsafeBytes { piece.writeEntries(keys: raw.baseAddress!, count: keys.count, entries: $0.baseAddress!) }
        }
        return piece
    }
}
