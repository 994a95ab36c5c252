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
    }

    private struct Slot: Hashable {
        var table: UInt32
        var range: KeyRange
    }

    private var keys: [Slot: [UInt64]] = [:]
    private var origins: [Slot: [RequestOrigin]] = [:]
    /// Keys recorded since the last ``take()``, counting a key once per push.
    private(set) var keyCount = 0

    var isEmpty: Bool { keys.isEmpty }

    /// Records that the push `origin` changed `count` sorted keys (raw little-endian `UInt64`s) of
    /// `range` in `table`.
    mutating func add(table: UInt32, range: KeyRange, keys raw: UnsafeRawPointer, count: Int, origin: RequestOrigin) {
        let slot = Slot(table: table, range: range)
        var list = keys.removeValue(forKey: slot) ?? []
        list.reserveCapacity(list.count + count)
        for index in 0..<count { list.append(raw.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self)) }
        keys[slot] = list
        origins[slot, default: []].append(origin)
        keyCount += count
    }

    /// Everything recorded, each range's keys sorted and unique, in table and key order; empties the batch.
    mutating func take() -> [Part] {
        let parts = keys.keys.sorted { ($0.table, $0.range.lowerBound) < ($1.table, $1.range.lowerBound) }.map { slot in
            var list = keys[slot]!
            list.sort()
            var unique = 0
            for index in list.indices where index == 0 || list[index] != list[unique - 1] {
                list[unique] = list[index]
                unique += 1
            }
            list.removeLast(list.count - unique)
            return Part(table: slot.table, range: slot.range, keys: list, origins: origins[slot] ?? [])
        }
        keys.removeAll()
        origins.removeAll()
        keyCount = 0
        return parts
    }
}
