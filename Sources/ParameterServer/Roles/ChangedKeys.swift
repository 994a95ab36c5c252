import CSystem
import Glibc
import ZeroMQ

/// The keys of one key range that pushes changed since they were last taken, each key once: what
/// ``ReplicationBatch`` keeps per range.
///
/// Recording a push keeps its keys as they came: the frame they arrived in, shared, not copied.
/// Taking them makes the union, sorted, with no sort:
/// - one push: its keys as they are;
/// - several, in a range of up to ``bitmapKeyLimit`` keys: each key's bit is set in a bitmap of
///   the range (kept from one batch to the next: at most 8 MiB), then the keys are read off it in
///   ascending order and the bits cleared. Where the keys are about as many as the bitmap's words
///   between the lowest and highest key, every one of those words is read, without a branch on
///   whether or where a word has a bit (with a few keys per word such branches mispredict about
///   once per key); where they are fewer, a summary with one bit per word is set too, and only the
///   words it marks are read;
/// - several, in a larger range (a hashed 2^64 key space held by a sorted store): merged in pairs.
///
/// Deferring the marking to the take is what makes a batch of one push free, and lets a dense
/// batch be marked without keeping the summary on every key. On segments like `zps-bench
/// failover`'s (700K keys, 4,200 keys per push), recording and taking cost per pushed key 0.02 ns
/// with one push per batch, 2.7 with four and 1.9 with eight, against 4.3, 6.1 and 3.9 ns when
/// every push set its bits and the summary's as it came.
struct ChangedKeys {
    /// The largest range kept as a bitmap, in keys.
    static let bitmapKeyLimit: UInt64 = 1 << 26

    let range: KeyRange
    /// One bit per key of the range, all clear between takes.
    private var words: [UInt64] = []
    /// One bit per word of `words`, all clear between takes.
    private var summary: [UInt64] = []
    /// One push's keys: their positions in the keys frame it arrived in.
    private typealias Run = (frame: Frame, keys: Range<Int>)

    /// The keys of each push since the last ``take()``.
    private var runs: [Run] = []
    /// Keys recorded since the last ``take()``, counting a key once per push.
    private(set) var recorded = 0

    init(range: KeyRange) {
        self.range = range
    }

    var usesBitmap: Bool { range.count <= Self.bitmapKeyLimit }

    var isEmpty: Bool { recorded == 0 }

    /// Records the keys at `positions` of `frame` (raw little-endian `UInt64`s), sorted, every one
    /// inside the range. The frame is kept until the next ``take()``.
    mutating func add(keys frame: Frame, at positions: Range<Int>) {
        guard !positions.isEmpty else { return }
        recorded += positions.count
        runs.append((frame, positions))
    }

    /// Records sorted `keys`, every one inside the range.
    mutating func add(_ keys: [UInt64]) {
        add(keys: Frame(array: keys), at: 0..<keys.count)
    }

    /// The keys recorded since the last call, sorted and unique; forgets them.
    mutating func take() -> [UInt64] {
        defer {
            recorded = 0
            runs.removeAll(keepingCapacity: true)
        }
        let distinct = Self.distinct(runs)
        switch distinct.count {
        case 0: return []
        case 1: return Self.keys(of: distinct[0])
        default: return usesBitmap ? takeFromBitmap(distinct) : Self.merged(distinct.map(Self.keys(of:)))
        }
    }

    /// `runs` without those that repeat one of the first distinct ones key for key: pushes of the
    /// same key list (a worker's keys from one iteration to the next, workers sharing a key set, a
    /// list the key cache resolved) are taken as one. A run that differs almost always differs in
    /// its length or its first or last key, so most comparisons stop there.
    private static func distinct(_ runs: [Run]) -> [Run] {
        guard runs.count > 1 else { return runs }
        var distinct: [Run] = []
        distinct.reserveCapacity(runs.count)
        for run in runs {
            // Past a few distinct runs the rest go in unchecked (a repeat is only marked twice).
            if distinct.count < 16, distinct.contains(where: { sameKeys($0, run) }) { continue }
            distinct.append(run)
        }
        return distinct
    }

    /// Whether two runs hold the same keys.
    private static func sameKeys(_ a: Run, _ b: Run) -> Bool {
        guard a.keys.count == b.keys.count else { return false }
        return a.frame.withUnsafeBytes { x in
            b.frame.withUnsafeBytes { y in
                let p = x.baseAddress! + 8 * a.keys.lowerBound
                let q = y.baseAddress! + 8 * b.keys.lowerBound
                let lastOffset = 8 * (a.keys.count - 1)
                guard p.loadUnaligned(as: UInt64.self) == q.loadUnaligned(as: UInt64.self),
                    p.loadUnaligned(fromByteOffset: lastOffset, as: UInt64.self) == q.loadUnaligned(fromByteOffset: lastOffset, as: UInt64.self)
                else { return false }
                return p == q || memcmp(p, q, 8 * a.keys.count) == 0
            }
        }
    }

    /// The keys of one run.
    private static func keys(of run: Run) -> [UInt64] {
        [UInt64](unsafeUninitializedCapacity: run.keys.count) { buffer, initialized in
            run.frame.withUnsafeBytes { raw in
                UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(
                    from: raw.baseAddress! + 8 * run.keys.lowerBound, byteCount: 8 * run.keys.count)
            }
            initialized = run.keys.count
        }
    }

    /// The first or last key of a run, less the range's lower bound.
    private func offset(of run: Run, last: Bool) -> UInt64 {
        run.frame.withUnsafeBytes { raw in
            raw.loadUnaligned(fromByteOffset: 8 * (last ? run.keys.upperBound - 1 : run.keys.lowerBound), as: UInt64.self)
        } &- range.lowerBound
    }

    /// The union of `runs` (several) through the bitmap.
    private mutating func takeFromBitmap(_ runs: [Run]) -> [UInt64] {
        if words.isEmpty {
            words = [UInt64](repeating: 0, count: Int((range.count + 63) / 64))
            summary = [UInt64](repeating: 0, count: (words.count + 63) / 64)
        }
        // The words between the lowest and the highest key (a run is sorted: its ends bound it).
        var lowest = Int.max
        var highest = -1
        for run in runs {
            lowest = min(lowest, Int(truncatingIfNeeded: offset(of: run, last: false) >> 6))
            highest = max(highest, Int(truncatingIfNeeded: offset(of: run, last: true) >> 6))
        }
        let span = lowest..<(highest + 1)
        let dense = 3 * runs.reduce(0) { $0 + $1.keys.count } >= 2 * span.count
        let lower = range.lowerBound
        return words.withUnsafeMutableBufferPointer { words in
            summary.withUnsafeMutableBufferPointer { summary in
                for run in runs {
                    run.frame.withUnsafeBytes { raw in
                        Self.mark(
                            keys: raw.baseAddress! + 8 * run.keys.lowerBound, count: run.keys.count, lowerBound: lower,
                            words: words.baseAddress!, summary: dense ? nil : summary.baseAddress!)
                    }
                }
                return dense
                    ? Self.takeWords(span, of: words, lowerBound: lower)
                    : Self.takeMarkedWords((span.lowerBound >> 6)...((span.upperBound - 1) >> 6), of: words, summary: summary, lowerBound: lower)
            }
        }
    }

    /// Sets the bit of each of `count` sorted keys (raw) in `words`, and with a `summary` the bit of
    /// each word it sets there.
    @inline(__always)
    private static func mark(
        keys raw: UnsafeRawPointer, count: Int, lowerBound lower: UInt64, words: UnsafeMutablePointer<UInt64>,
        summary: UnsafeMutablePointer<UInt64>?
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
            if let summary { summary[word &>> 6] |= 1 &<< UInt64(truncatingIfNeeded: word & 63) }
            i &+= 1
        }
        while i < count {
            let offset = raw.loadUnaligned(fromByteOffset: 8 &* i, as: UInt64.self) &- lower
            let word = Int(truncatingIfNeeded: offset &>> 6)
            words[word] |= 1 &<< (offset & 63)
            if let summary { summary[word &>> 6] |= 1 &<< UInt64(truncatingIfNeeded: word & 63) }
            i &+= 1
        }
    }

    /// The keys of the bits of the words `span`, in order; clears the words. Counted first, so
    /// that the keys are written into an array of their exact size (and four more elements, which
    /// the loop may write past the last key). Each word writes four keys, the ones it holds first,
    /// and only a word with more goes on: no branch on the number of keys a word holds while it is
    /// at most four.
    private static func takeWords(_ span: Range<Int>, of words: UnsafeMutableBufferPointer<UInt64>, lowerBound lower: UInt64) -> [UInt64] {
        var count = 0
        var position = span.lowerBound
        while position < span.upperBound {
            count &+= words[position].nonzeroBitCount
            position &+= 1
        }
        return [UInt64](unsafeUninitializedCapacity: count + 4) { keys, initialized in
            let output = keys.baseAddress!
            var next = 0
            var position = span.lowerBound
            while position < span.upperBound {
                var word = words[position]
                words[position] = 0
                let base = lower &+ UInt64(truncatingIfNeeded: position) &<< 6
                let held = word.nonzeroBitCount
                // Past a word's last bit the key is `base + 64`: written past its keys, overwritten.
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
                next &+= held
                position &+= 1
            }
            initialized = count
        }
    }

    /// The keys of the bits of the words the summary words `marked` mark, in order; clears both.
    private static func takeMarkedWords(
        _ marked: ClosedRange<Int>, of words: UnsafeMutableBufferPointer<UInt64>, summary: UnsafeMutableBufferPointer<UInt64>,
        lowerBound lower: UInt64
    ) -> [UInt64] {
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
