/// The keys of one key range that pushes changed since they were last taken, each key once: what
/// ``ReplicationBatch`` keeps per range.
///
/// Two forms, chosen by the size of the range:
/// - **bitmap**: one bit per key of the range, and the list of the 64-bit words that pushes made
///   non-zero. Recording a key is a shift and an or; taking the keys reads the touched words only
///   (in order: sorted when few, a scan of the bitmap when many), and clears them for the next
///   batch. Used for ranges of up to ``bitmapKeyLimit`` keys, where the bitmap (at most 8 MiB) is
///   kept from one batch to the next.
/// - **runs**: each push's sorted keys, merged in pairs when taken; for ranges too large for a
///   bitmap (a hashed 2^64 key space held by a sorted store).
struct ChangedKeys {
    /// The largest range kept as a bitmap, in keys.
    static let bitmapKeyLimit: UInt64 = 1 << 26

    let range: KeyRange
    private var words: [UInt64] = []
    private var touched: [Int] = []
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
        if words.isEmpty { words = [UInt64](repeating: 0, count: Int((range.count + 63) / 64)) }
        let lower = range.lowerBound
        var touched = self.touched
        self.touched = []
        words.withUnsafeMutableBufferPointer { words in
            for i in 0..<count {
                let offset = raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self) &- lower
                let index = Int(offset >> 6)
                let word = words[index]
                if word == 0 { touched.append(index) }
                words[index] = word | (1 << (offset & 63))
            }
        }
        self.touched = touched
    }

    /// The keys recorded since the last call, sorted and unique; forgets them.
    mutating func take() -> [UInt64] {
        defer { recorded = 0 }
        guard usesBitmap else {
            defer { runs = [] }
            return Self.merged(runs)
        }
        guard !touched.isEmpty else { return [] }
        // Sorting k touched words costs about k·log k; scanning the bitmap from the first to the
        // last touched word costs its length, with far cheaper steps.
        let first = touched.min()!
        let last = touched.max()!
        let span = last - first + 1
        let scan = span <= 16 * touched.count
        if !scan { touched.sort() }
        let lower = range.lowerBound
        var keys: [UInt64] = []
        keys.reserveCapacity(min(recorded, 64 * touched.count))
        words.withUnsafeMutableBufferPointer { words in
            func extract(_ index: Int) {
                var word = words[index]
                words[index] = 0
                let base = lower &+ UInt64(index) << 6
                while word != 0 {
                    keys.append(base &+ UInt64(word.trailingZeroBitCount))
                    word &= word &- 1
                }
            }
            if scan {
                for index in first...last where words[index] != 0 { extract(index) }
            } else {
                for index in touched { extract(index) }
            }
        }
        touched.removeAll(keepingCapacity: true)
        return keys
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
