import Testing
import ParameterServer
@testable import SparseLR

@Suite struct DenseKeyIndexerTests {
    /// A seeded key list: `count` keys below `bound`, drawn so that some repeat.
    static func keys(count: Int, bound: UInt64, seed: UInt64) -> [UInt64] {
        var random = SplitMix64(seed: seed)
        return (0..<count).map { _ in random.next() % bound }
    }

    @Test func listsTheSortedDistinctKeysAndTheSlotOfEachOccurrence() {
        let indexer = DenseKeyIndexer(keyBound: 64 * 3)
        // Few words: the bitmap path, with keys on both edges of the space and of a word.
        let featureKeys: [UInt64] = [191, 0, 63, 64, 0, 191, 127, 5, 63]
        let indexed = indexer.index(featureKeys)
        #expect(indexed.keys == [0, 5, 63, 64, 127, 191])
        #expect(indexed.slots == [5, 0, 2, 3, 0, 5, 4, 1, 2])
        #expect(indexer.index([]) == BatchKeys(keys: [], slots: []))
    }

    @Test(arguments: [(1 << 20) + 1, 1000, 64] as [UInt64])
    func equalsTheSortingIndexBatchAfterBatch(bound: UInt64) {
        let indexer = DenseKeyIndexer(keyBound: bound)
        // Sizes on both sides of the switch to sorting; the bitmap must be clear after each batch.
        for (round, count) in [20_000, 7, 3_000, 1_000, 1, 20_000].enumerated() {
            let featureKeys = Self.keys(count: count, bound: bound, seed: UInt64(round) &+ bound)
            let (indexed, sorted) = (indexer.index(featureKeys), BatchKeys(featureKeys: featureKeys))
            // Compared whole, but reported by count: the lists themselves are too long to print.
            #expect(indexed == sorted, "batch \(round) of \(count) keys: \(indexed.count) distinct keys, \(sorted.count) by sorting")
        }
    }
}
