import CSystem

/// The keys of one key range that pushes changed since they were last taken, each key once: what
/// ``ReplicationBatch`` keeps per range.
///
/// Two forms, chosen by the size of the range:
/// - **bitmap**: one bit per key of the range, and a summary with one bit per 64-bit word of it
///   (set when a push set a bit in that word). Recording a key is two shifts and two ors, with no
///   branch and no allocation: it runs on every key of every push. Taking the keys reads only the
///   marked words, found through the summary between the lowest and highest summary word any push
///   reached (a push's keys are sorted, so its first and last key bound it), in ascending order with
///   no sort, and clears them for the next batch. Used for ranges of up to ``bitmapKeyLimit`` keys,
///   where the bitmap (at most 8 MiB, its summary 128 KiB) is kept from one batch to the next.
/// - **runs**: each push's sorted keys, merged in pairs when taken; for ranges too large for a
///   bitmap (a hashed 2^64 key space held by a sorted store).
struct ChangedKeys {
    /// The largest range kept as a bitmap, in keys.
    static let bitmapKeyLimit: UInt64 = 1 << 26

    let range: KeyRange
    /// One bit per key of the range.
    private var words: [UInt64] = []
    /// One bit per word of `words` that has a bit set.
    private var summary: [UInt64] = []
    /// The lowest and highest word of `summary` with a bit set (`Int.max` and -1 when none).
    private var lowestMarked = Int.max
    private var highestMarked = -1
    private var runs: [[UInt64]] = []
    /// Keys recorded since the last ``take()``, counting a key once per push.
    private(set) var recorded = 0

    init(range: KeyRange) {
        self.range = range
    }

    var usesBitmap: Bool { range.count <= Self.bitmapKeyLimit }

    var isEmpty: Bool { recorded == 0 }

    /// Records `count` sorted keys (raw little-endian `UInt64`s), every one inside the range.
    mutating func add(keys raw: UnsafeRawPointer, count: Int) {
        guard count > 0 else { return }
        recorded += count
        guard usesBitmap else {
            runs.append([UInt64](unsafeUninitializedCapacity: count) { buffer, initialized in
                UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: raw, byteCount: 8 * count)
                initialized = count
            })
            return
        }
        if words.isEmpty {
            words = [UInt64](repeating: 0, count: Int((range.count + 63) / 64))
            summary = [UInt64](repeating: 0, count: (words.count + 63) / 64)
        }
        let lower = range.lowerBound
        let first = raw.loadUnaligned(as: UInt64.self) &- lower
        let last = raw.loadUnaligned(fromByteOffset: 8 * (count - 1), as: UInt64.self) &- lower
        lowestMarked = min(lowestMarked, Int(truncatingIfNeeded: first >> 12))
        highestMarked = max(highestMarked, Int(truncatingIfNeeded: last >> 12))
        words.withUnsafeMutableBufferPointer { words in
            summary.withUnsafeMutableBufferPointer { summary in
                // A `while` loop: a `for` over a range costs a call per key in this closure. The
                // word `prefetchDistance` keys ahead is asked for while this one is set: a bitmap
                // of a large range with few keys per word misses the caches as the store does.
                var i = 0
                let prefetchEnd = count &- prefetchDistance
                while i < prefetchEnd {
                    let ahead = raw.loadUnaligned(fromByteOffset: 8 &* (i &+ prefetchDistance), as: UInt64.self) &- lower
                    zps_prefetch_for_writing(words.baseAddress! + Int(truncatingIfNeeded: ahead &>> 6))
                    let offset = raw.loadUnaligned(fromByteOffset: 8 &* i, as: UInt64.self) &- lower
                    let word = Int(truncatingIfNeeded: offset &>> 6)
                    words[word] |= 1 &<< (offset & 63)
                    summary[word &>> 6] |= 1 &<< UInt64(truncatingIfNeeded: word & 63)
                    i &+= 1
                }
                while i < count {
                    let offset = raw.loadUnaligned(fromByteOffset: 8 &* i, as: UInt64.self) &- lower
                    let word = Int(truncatingIfNeeded: offset &>> 6)
                    words[word] |= 1 &<< (offset & 63)
                    summary[word &>> 6] |= 1 &<< UInt64(truncatingIfNeeded: word & 63)
                    i &+= 1
                }
            }
        }
    }

    /// The keys recorded since the last call, sorted and unique; forgets them.
    mutating func take() -> [UInt64] {
        defer { recorded = 0 }
        guard usesBitmap else {
            defer { runs = [] }
            return Self.merged(runs)
        }
        guard highestMarked >= 0 else { return [] }
        let marked = lowestMarked...highestMarked
        lowestMarked = .max
        highestMarked = -1
        let lower = range.lowerBound
        return words.withUnsafeMutableBufferPointer { words in
            summary.withUnsafeMutableBufferPointer { summary in
                // Counted first, so that the keys are written into an array of their exact size.
                var count = 0
                for index in marked {
                    var marks = summary[index]
                    while marks != 0 {
                        count &+= words[index &<< 6 | marks.trailingZeroBitCount].nonzeroBitCount
                        marks &= marks &- 1
                    }
                }
                return [UInt64](unsafeUninitializedCapacity: count) { keys, initialized in
                    var next = 0
                    for index in marked {
                        var marks = summary[index]
                        summary[index] = 0
                        while marks != 0 {
                            let position = index &<< 6 | marks.trailingZeroBitCount
                            marks &= marks &- 1
                            var word = words[position]
                            words[position] = 0
                            let base = lower &+ UInt64(truncatingIfNeeded: position) &<< 6
                            while word != 0 {
                                keys[next] = base &+ UInt64(truncatingIfNeeded: word.trailingZeroBitCount)
                                next &+= 1
                                word &= word &- 1
                            }
                        }
                    }
                    initialized = next
                }
            }
        }
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
