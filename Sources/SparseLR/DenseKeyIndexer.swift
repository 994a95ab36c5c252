/// Builds ``BatchKeys`` for keys below a known bound (hashed features: `2^bits` keys and the bias
/// key) without sorting: each key sets its bit in a bitmap of the key space; a scan of the words the
/// batch touched lists the distinct keys in ascending order and counts, for each word, the distinct
/// keys before it; a key's slot is then that count plus the set bits below it in its word.
///
/// The result equals ``BatchKeys/init(featureKeys:)``'s. A batch costs one pass over its features,
/// a scan of the bitmap words between its smallest and largest key, one more pass, and clearing
/// the words it touched; everything it touches is the bitmap (`bound / 8` bytes) and one count per
/// word (`bound / 16` bytes), 192 KiB for 2^20 keys, so it stays in the CPU's cache. Sorting costs
/// `n log n` comparisons, so for batches with few keys against the key space (fewer than one per
/// ``sortBelowWordsPerKey`` bitmap words) the indexer sorts instead. Not thread-safe: one indexer
/// per training loop.
public final class DenseKeyIndexer {
    /// Every key indexed must be below this bound.
    public let keyBound: UInt64
    /// Batches with fewer feature occurrences than `bitmap words / sortBelowWordsPerKey` are sorted.
    public static let sortBelowWordsPerKey = 16

    /// One bit per key; all clear between batches.
    private var bitmap: [UInt64]
    /// For each bitmap word of the current batch, the distinct keys in the words before it.
    private var keysBefore: [Int32]

    /// An indexer for keys in `0..<keyBound`; `keyBound` must be in `1...2^32`.
    public init(keyBound: UInt64) {
        precondition(keyBound >= 1 && keyBound <= 1 << 32, "DenseKeyIndexer needs a key bound in 1...2^32, got \(keyBound)")
        self.keyBound = keyBound
        bitmap = [UInt64](repeating: 0, count: Int((keyBound + 63) / 64))
        keysBefore = [Int32](repeating: 0, count: bitmap.count)
    }

    /// The sorted unique keys of `featureKeys` and the slot of every occurrence; every key must be
    /// below ``keyBound``.
    public func index(_ featureKeys: [UInt64]) -> BatchKeys {
        guard featureKeys.count * Self.sortBelowWordsPerKey >= bitmap.count else {
            return BatchKeys(featureKeys: featureKeys)
        }
        precondition(featureKeys.count <= Int(Int32.max), "BatchKeys holds at most Int32.max distinct keys")
        let bound = keyBound
        var keys: [UInt64] = []
        var slots: [Int32] = []
        featureKeys.withUnsafeBufferPointer { occurrences in
            bitmap.withUnsafeMutableBufferPointer { bitmap in
                keysBefore.withUnsafeMutableBufferPointer { keysBefore in
                    var lowWord = bitmap.count
                    var highWord = -1
                    for key in occurrences {
                        precondition(key < bound, "DenseKeyIndexer: key \(key) is not below the bound \(bound)")
                        let word = Int(truncatingIfNeeded: key >> 6)
                        bitmap[word] |= 1 << (key & 63)
                        lowWord = min(lowWord, word)
                        highWord = max(highWord, word)
                    }
                    guard lowWord <= highWord else { return }
                    // One scan of the touched words counts the keys before each word and lists them.
                    keys = [UInt64](unsafeUninitializedCapacity: occurrences.count) { unique, initialized in
                        var next = 0
                        for word in lowWord...highWord {
                            keysBefore[word] = Int32(truncatingIfNeeded: next)
                            var bits = bitmap[word]
                            while bits != 0 {
                                unique[next] = UInt64(word) << 6 | UInt64(bits.trailingZeroBitCount)
                                next &+= 1
                                bits &= bits &- 1
                            }
                        }
                        initialized = next
                    }
                    slots = [Int32](unsafeUninitializedCapacity: occurrences.count) { slots, initialized in
                        for index in occurrences.indices {
                            let key = occurrences[index]
                            let word = Int(truncatingIfNeeded: key >> 6)
                            let below = bitmap[word] & ((1 << (key & 63)) &- 1)
                            slots[index] = keysBefore[word] &+ Int32(truncatingIfNeeded: below.nonzeroBitCount)
                        }
                        initialized = occurrences.count
                    }
                    for word in lowWord...highWord { bitmap[word] = 0 }
                }
            }
        }
        return BatchKeys(keys: keys, slots: slots)
    }
}
