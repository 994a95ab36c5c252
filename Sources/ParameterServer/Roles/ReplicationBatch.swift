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

    /// What one range holds: the keys changed since the last ``take()`` (kept between batches: a
    /// range's bitmap is reused), and the pushes that changed them. One dictionary entry per
    /// range, so that recording a push's keys of a range looks the range up once.
    private struct Entry {
        var changed: ChangedKeys
        var origins: [RequestOrigin] = []
        var clockRecords: [ClockRecord] = []
        /// Recorded since the last ``take()``, even with no key and no push (a bsp segment's iteration).
        var pending = false
    }

    private var entries: [Slot: Entry] = [:]
    /// The slots recorded since the last ``take()``.
    private var pendingSlots: [Slot] = []
    /// Keys recorded since the last ``take()``, counting a key once per push.
    private(set) var keyCount = 0
    /// The most pushes recorded since the last ``take()`` for one range: the identities its last
    /// replicate will name.
    private(set) var mostOriginsPerRange = 0

    var isEmpty: Bool { pendingSlots.isEmpty }

    /// Runs `body` on the entry of `slot` in place, creating it when missing.
    private mutating func withEntry<Result>(_ slot: Slot, _ body: (inout Entry) -> Result) -> Result {
        body(&entries[slot, default: Entry(changed: ChangedKeys(range: slot.range))])
    }

    /// Records into the entry of `slot` with `body`, which adds `count` keys, and marks it as
    /// recorded in this batch.
    private mutating func record(_ slot: Slot, keys count: Int, _ body: (inout Entry) -> Void) {
        let (wasPending, origins) = withEntry(slot) { entry in
            body(&entry)
            defer { entry.pending = true }
            return (entry.pending, entry.origins.count)
        }
        if !wasPending { pendingSlots.append(slot) }
        keyCount += count
        mostOriginsPerRange = max(mostOriginsPerRange, origins)
    }

    /// Records that the push `origin` changed the sorted keys at `positions` of the keys frame
    /// `keys` (kept until the next ``take()``) of `range` in `table`, and what it recorded in the
    /// range's vector clock (`nil` when nothing).
    mutating func add(
        table: UInt32, range: KeyRange, keys: Frame, at positions: Range<Int>, origin: RequestOrigin, clock: ClockRecord? = nil
    ) {
        record(Slot(table: table, range: range), keys: positions.count) { entry in
            if let clock { entry.clockRecords.append(clock) }
            entry.changed.add(keys: keys, at: positions)
            entry.origins.append(origin)
        }
    }

    /// Records that the pushes `origins` together changed `keys` (sorted, unique; possibly none) of
    /// `range` in `table`, and what they recorded in its clock: a `bsp` segment's applied iteration,
    /// which goes down the chain even when it changed no key.
    mutating func add(table: UInt32, range: KeyRange, keys: [UInt64], origins pushes: [RequestOrigin], clock: [ClockRecord]) {
        record(Slot(table: table, range: range), keys: keys.count) { entry in
            entry.clockRecords += clock
            entry.changed.add(keys)
            entry.origins += pushes
        }
    }

    /// Everything recorded, each range's keys sorted and unique, in table and key order; empties the batch.
    mutating func take() -> [Part] {
        let slots = pendingSlots.sorted { ($0.table, $0.range.lowerBound) < ($1.table, $1.range.lowerBound) }
        pendingSlots.removeAll(keepingCapacity: true)
        var parts: [Part] = []
        parts.reserveCapacity(slots.count)
        for slot in slots {
            var part = Part(table: slot.table, range: slot.range, keys: [], origins: [], clockRecords: [])
            withEntry(slot) { entry in
                part.keys = entry.changed.take()
                swap(&part.origins, &entry.origins)
                swap(&part.clockRecords, &entry.clockRecords)
                entry.pending = false
            }
            parts.append(part)
        }
        keyCount = 0
        mostOriginsPerRange = 0
        return parts
    }

    /// Forgets the ranges other than `ranges`, with what is recorded for them: the ranges this
    /// server no longer heads.
    mutating func keep(only ranges: Set<KeyRange>) {
        entries = entries.filter { ranges.contains($0.key.range) }
        pendingSlots.removeAll { !ranges.contains($0.range) }
        keyCount = pendingSlots.reduce(0) { $0 + (entries[$1]?.changed.recorded ?? 0) }
        mostOriginsPerRange = pendingSlots.map { entries[$0]?.origins.count ?? 0 }.max() ?? 0
    }
}
