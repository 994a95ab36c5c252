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

    /// Per slot, the sorted key runs of its pushes, merged at ``take()``.
    private var runs: [Slot: [[UInt64]]] = [:]
    private var origins: [Slot: [RequestOrigin]] = [:]
    /// Keys recorded since the last ``take()``, counting a key once per push.
    private(set) var keyCount = 0

    var isEmpty: Bool { runs.isEmpty }

    /// Records that the push `origin` changed `count` sorted keys (raw little-endian `UInt64`s) of
    /// `range` in `table`.
    mutating func add(table: UInt32, range: KeyRange, keys raw: UnsafeRawPointer, count: Int, origin: RequestOrigin) {
        let slot = Slot(table: table, range: range)
        let run = [UInt64](unsafeUninitializedCapacity: count) { buffer, initialized in
            UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: raw, byteCount: 8 * count)
            initialized = count
        }
        runs[slot, default: []].append(run)
        origins[slot, default: []].append(origin)
        keyCount += count
    }

    /// Everything recorded, each range's keys sorted and unique, in table and key order; empties the batch.
    mutating func take() -> [Part] {
        let parts = runs.keys.sorted { ($0.table, $0.range.lowerBound) < ($1.table, $1.range.lowerBound) }.map { slot in
            Part(table: slot.table, range: slot.range, keys: Self.merged(runs[slot]!), origins: origins[slot] ?? [])
        }
        runs.removeAll()
        origins.removeAll()
        keyCount = 0
        return parts
    }

    /// The union of sorted runs, sorted and unique, by merging them in pairs.
    static func merged(_ runs: [[UInt64]]) -> [UInt64] {
        var level = runs
        while level.count > 1 {
            var next: [[UInt64]] = []
            next.reserveCapacity((level.count + 1) / 2)
            for index in stride(from: 0, to: level.count, by: 2) {
                next.append(index + 1 < level.count ? union(level[index], level[index + 1]) : level[index])
            }
            level = next
        }
        return level.first ?? []
    }

    private static func union(_ a: [UInt64], _ b: [UInt64]) -> [UInt64] {
        var result: [UInt64] = []
        result.reserveCapacity(a.count + b.count)
        var i = 0
        var j = 0
        while i < a.count && j < b.count {
            if a[i] < b[j] {
                result.append(a[i])
                i += 1
            } else if b[j] < a[i] {
                result.append(b[j])
                j += 1
            } else {
                result.append(a[i])
                i += 1
                j += 1
            }
        }
        result.append(contentsOf: a[i...])
        result.append(contentsOf: b[j...])
        return result
    }
}
