import ZeroMQ

/// The keys a primary changed since it last forwarded results down its chains, per table and
/// range, with the identities of the pushes that changed them: replication after aggregation
/// (Li et al., OSDI 2014, section 4.4). However many pushes touched a key before the next flush,
/// its result goes down the chain once, so the replica traffic of n workers pushing the same keys
/// is about 1/n of their push traffic.
struct ReplicationBatch {
    struct Part {
        var table: UInt32
        var range: KeyRange
        /// Sorted, each key once.
        var keys: [UInt64]
        /// The pushes whose results the keys hold.
        var origins: [RequestOrigin]
        /// What the pushes recorded in the range's vector clock, one entry each, in the order
        /// they were applied: a replica applies the same entries.
        var clockRecords: [ClockRecord]
    }

    private struct Slot: Hashable {
        var table: UInt32
        var range: KeyRange
    }

    /// Per slot, the keys changed since the last ``take()`` (kept between batches: a range's
    /// bitmap is reused), and the pushes that changed them.
    private var changed: [Slot: ChangedKeys] = [:]
    private var origins: [Slot: [RequestOrigin]] = [:]
    private var clockRecords: [Slot: [ClockRecord]] = [:]
    /// Keys recorded since the last ``take()``, counting a key once per push.
    private(set) var keyCount = 0
    /// The most pushes recorded since the last ``take()`` for one range: the identities its last
    /// replicate will name.
    private(set) var mostOriginsPerRange = 0

    var isEmpty: Bool { origins.isEmpty }

    /// Records that the push `origin` changed `count` sorted keys (raw little-endian `UInt64`s) of
    /// `range` in `table`, and what it recorded in the range's vector clock (`nil` when nothing).
    mutating func add(
        table: UInt32, range: KeyRange, keys raw: UnsafeRawPointer, count: Int, origin: RequestOrigin, clock: ClockRecord? = nil
    ) {
        let slot = Slot(table: table, range: range)
        if let clock { clockRecords[slot, default: []].append(clock) }
        changed[slot, default: ChangedKeys(range: range)].add(keys: raw, count: count)
        origins[slot, default: []].append(origin)
        keyCount += count
        mostOriginsPerRange = max(mostOriginsPerRange, origins[slot]!.count)
    }

    /// Records that the pushes `origins` together changed `keys` (sorted, unique; possibly none) of
    /// `range` in `table`, and what they recorded in its clock: a `bsp` segment's applied iteration,
    /// which goes down the chain even when it changed no key.
    mutating func add(table: UInt32, range: KeyRange, keys: [UInt64], origins pushes: [RequestOrigin], clock: [ClockRecord]) {
        let slot = Slot(table: table, range: range)
        clockRecords[slot, default: []] += clock
        keys.withUnsafeBytes { raw in
            if let base = raw.baseAddress { changed[slot, default: ChangedKeys(range: range)].add(keys: base, count: keys.count) }
        }
        origins[slot, default: []] += pushes
        keyCount += keys.count
        mostOriginsPerRange = max(mostOriginsPerRange, origins[slot]!.count)
    }

    /// Everything recorded, each range's keys sorted and unique, in table and key order; empties the batch.
    mutating func take() -> [Part] {
        let parts = origins.keys.sorted { ($0.table, $0.range.lowerBound) < ($1.table, $1.range.lowerBound) }.map { slot in
            Part(table: slot.table, range: slot.range, keys: changed[slot]?.take() ?? [], origins: origins[slot]!, clockRecords: clockRecords[slot] ?? [])
        }
        origins.removeAll(keepingCapacity: true)
        clockRecords.removeAll(keepingCapacity: true)
        keyCount = 0
        mostOriginsPerRange = 0
        return parts
    }

    /// Forgets the ranges other than `ranges`, with what is recorded for them: the ranges this
    /// server no longer heads.
    mutating func keep(only ranges: Set<KeyRange>) {
        changed = changed.filter { ranges.contains($0.key.range) }
        origins = origins.filter { ranges.contains($0.key.range) }
        clockRecords = clockRecords.filter { ranges.contains($0.key.range) }
        keyCount = origins.keys.reduce(0) { $0 + (changed[$1]?.recorded ?? 0) }
        mostOriginsPerRange = origins.values.map(\.count).max() ?? 0
    }
}
