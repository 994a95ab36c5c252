import CSystem

/// The keys of one key range that pushes changed since they were last taken, each key once: what
/// ``ReplicationBatch`` keeps per range.
///
/// Two forms, chosen by the size of the range:
/// - **bitmap**: one bit per key of the range, and a summary with one bit per 64-bit word of it
///   (set when a push set a bit in that word). Recording a key is two shifts and two ors, with no
///   branch and no allocation: it runs on every key of every push. Taking the keys reads them in
///   ascending order with no sort, between the lowest and highest summary word any push reached (a
///   push's keys are sorted, so its first and last key bound it), and clears them for the next
///   batch: when there are fewer keys than words there, only the marked words, found through the
///   summary; otherwise every word, without a branch on whether or where a word has a bit (with a
///   few keys per word such branches mispredict about once per key). Used for ranges of up to
///   ``bitmapKeyLimit`` keys, where the bitmap (at most 8 MiB, its summary 128 KiB) is kept from
///   one batch to the next. The first push of a batch is kept as it came and marked only when a
///   second comes: a batch of one push takes its keys whole.
/// - **runs**: each push's sorted keys, merged in pairs when taken; for ranges too large for a
///   bitmap (a hashed 2^64 key space held by a sorted store).
///
/// On segments like `zps-bench failover`'s (700K keys, 4,200 keys per push), adding and taking
/// cost per pushed key 0.3 + 0 ns with one push per batch and 1.8 + 1.7 ns with four, against
/// 1.8 + 2.6 and 1.8 + 4.2 ns marking every push and walking the summary every time.
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
        guard usesBitmap, recorded > count else {
            runs.append([UInt64](unsafeUninitializedCapacity: count) { buffer, initialized in
                UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: raw, byteCount: 8 * count)
                initialized = count
            })
            return
        }
        if let first = runs.popLast() {
            first.withUnsafeBytes { mark(keys: $0.baseAddress!, count: first.count) }
        }
        mark(keys: raw, count: count)
    }

    /// Sets the bits of `count` sorted keys of the range.
    private mutating func mark(keys raw: UnsafeRawPointer, count: Int) {
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
                Self.mark(keys: raw, count: count, lowerBound: lower, words: words.baseAddress!, summary: summary.baseAddress!)
            }
        }
    }

    /// Sets the bit of each of `count` keys in `words`, and the bit of each word it sets in `summary`.
    private static func mark(
        keys raw: UnsafeRawPointer, count: Int, lowerBound lower: UInt64, words: UnsafeMutablePointer<UInt64>,
        summary: UnsafeMutablePointer<UInt64>
    ) {
        // A `while` loop: a `for` over a range costs a call per key in a closure. The word
        // `prefetchDistance` keys ahead is asked for while this one is set: a bitmap of a large
        // range with few keys per word misses the caches as the store does.
        var i = 0
        let prefetchEnd = count &- prefetchDistance
        while i < prefetchEnd {
            let ahead = raw.loadUnaligned(fromByteOffset: 8 &* (i &+ prefetchDistance), as: UInt64.self) &- lower
            zps_prefetch_for_writing(words + Int(truncatingIfNeeded: ahead &>> 6))
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

    /// The keys recorded since the last call, sorted and unique; forgets them.
    mutating func take() -> [UInt64] {
        defer { recorded = 0 }
        // Runs: every push's keys, or in a bitmap the one push of the batch.
        guard usesBitmap, runs.isEmpty else {
            defer { runs = [] }
            return Self.merged(runs)
        }
        guard highestMarked >= 0 else { return [] }
        let marked = lowestMarked...highestMarked
        lowestMarked = .max
        highestMarked = -1
        let lower = range.lowerBound
        // The words under the marked summary words.
        let span = (marked.lowerBound &<< 6)..<min((marked.upperBound &+ 1) &<< 6, words.count)
        if recorded >= span.count {
            return words.withUnsafeMutableBufferPointer { words in
                summary.withUnsafeMutableBufferPointer { summary in
                    // Counted first, so that the keys are written into an array of their exact
                    // size (and ``takeSlack`` more, which ``takeWords(_:of:lowerBound:into:)`` may
                    // write). `while` loops, as in ``mark(keys:count:lowerBound:words:summary:)``.
                    var count = 0
                    var position = span.lowerBound
                    while position < span.upperBound {
                        count &+= words[position].nonzeroBitCount
                        position &+= 1
                    }
                    var index = marked.lowerBound
                    while index <= marked.upperBound {
                        summary[index] = 0
                        index &+= 1
                    }
                    return [UInt64](unsafeUninitializedCapacity: count + Self.takeSlack) { keys, initialized in
                        Self.takeWords(span, of: words, lowerBound: lower, into: keys)
                        initialized = count
                    }
                }
            }
        }
        return words.withUnsafeMutableBufferPointer { words in
            summary.withUnsafeMutableBufferPointer { summary in
                // Counted first, as above.
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
                            Self.takeWord(position, of: words, lowerBound: lower, into: keys, at: &next)
                        }
                    }
                    initialized = next
                }
            }
        }
    }

    /// The elements past the keys that ``takeWords(_:of:lowerBound:into:)`` may write.
    static let takeSlack = 4

    /// Writes the keys of the bits of the words `span` into `keys` in order, and clears the words;
    /// may write up to ``takeSlack`` elements past the last key. Each word writes four keys, the
    /// ones it holds first, and only a word with more goes on: with a few keys per word, whether a
    /// word has a key, and how many, is as random as the keys, and a branch on it mispredicts about
    /// once per key (three times the cost of the keys' writes on `zps-bench failover`'s segments).
    private static func takeWords(
        _ span: Range<Int>, of words: UnsafeMutableBufferPointer<UInt64>, lowerBound lower: UInt64,
        into keys: UnsafeMutableBufferPointer<UInt64>
    ) {
        let output = keys.baseAddress!
        var next = 0
        var position = span.lowerBound
        while position < span.upperBound {
            var word = words[position]
            words[position] = 0
            let base = lower &+ UInt64(truncatingIfNeeded: position) &<< 6
            let count = word.nonzeroBitCount
            // A word without another bit gives `base + 64`, written past its keys and overwritten.
            output[next] = base &+ UInt64(truncatingIfNeeded: word.trailingZeroBitCount)
            word &= word &- 1
            output[next &+ 1] = base &+ UInt64(truncatingIfNeeded: word.trailingZeroBitCount)
            word &= word &- 1
            output[next &+ 2] = base &+ UInt64(truncatingIfNeeded: word.trailingZeroBitCount)
            word &= word &- 1
            output[next &+ 3] = base &+ UInt64(truncatingIfNeeded: word.trailingZeroBitCount)
            word &= word &- 1
            var rest = next &+ 4
            while word != 0 {
                output[rest] = base &+ UInt64(truncatingIfNeeded: word.trailingZeroBitCount)
                rest &+= 1
                word &= word &- 1
            }
            next &+= count
            position &+= 1
        }
    }

    /// Writes the keys of the bits of word `position` into `keys` from `next` on, and clears the word.
    @inline(__always)
    private static func takeWord(
        _ position: Int, of words: UnsafeMutableBufferPointer<UInt64>, lowerBound lower: UInt64,
        into keys: UnsafeMutableBufferPointer<UInt64>, at next: inout Int
    ) {
        var word = words[position]
        words[position] = 0
        let base = lower &+ UInt64(truncatingIfNeeded: position) &<< 6
        while word != 0 {
            keys[next] = base &+ UInt64(truncatingIfNeeded: word.trailingZeroBitCount)
            next &+= 1
            word &= word &- 1
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
