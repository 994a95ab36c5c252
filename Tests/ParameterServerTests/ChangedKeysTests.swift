import Testing

@testable import ParameterServer

/// The keys a primary changed between two flushes: each once, sorted, whichever form holds them.
@Suite("Changed keys of a range")
struct ChangedKeysTests {
    static func add(_ changed: inout ChangedKeys, _ keys: [UInt64]) {
        changed.add(keys)
    }

    /// Sorted, unique random keys of `range`, about `count` of them.
    static func randomKeys(_ random: inout SplitMix64, count: Int, in range: KeyRange) -> [UInt64] {
        Array(Set((0..<count).map { _ in range.lowerBound + random.next() % range.count })).sorted()
    }

    @Test("every form gives the union of the pushes' keys, sorted and unique, and starts empty again", arguments: [
        // A bitmap with dense keys, taken word by word (its last word and summary word partly
        // outside the range), a bitmap with few keys spread over many summary words, taken through
        // the summary, a range too large for a bitmap (runs).
        (KeyRange(1_000, 1_000 + 5_000), 2_000),
        (KeyRange(7, 7 + (1 << 24)), 300),
        (KeyRange(5, UInt64.max), 3_000),
    ])
    func unionOfPushes(range: KeyRange, keysPerPush: Int) {
        var random = SplitMix64(seed: range.lowerBound &+ UInt64(keysPerPush))
        var changed = ChangedKeys(range: range)
        #expect(changed.usesBitmap == (range.count <= ChangedKeys.bitmapKeyLimit))
        for batch in 0..<3 {
            var expected = Set<UInt64>()
            var recorded = 0
            for _ in 0..<(4 + batch) {
                let keys = Self.randomKeys(&random, count: keysPerPush, in: range)
                Self.add(&changed, keys)
                expected.formUnion(keys)
                recorded += keys.count
            }
            // The first and last key of the range, twice.
            Self.add(&changed, [range.lowerBound, range.upperBound - 1])
            Self.add(&changed, [range.lowerBound, range.upperBound - 1])
            expected.formUnion([range.lowerBound, range.upperBound - 1])
            #expect(changed.recorded == recorded + 4)
            #expect(changed.take() == expected.sorted(), "batch \(batch)")
            #expect(changed.isEmpty && changed.recorded == 0)
            #expect(changed.take() == [])
        }
    }

    @Test("a batch of one push gives that push's keys, and batches of one and of several alternate", arguments: [
        KeyRange(1_000, 1_000 + 5_000), KeyRange(7, 7 + (1 << 24)),
    ])
    func onePushBatches(range: KeyRange) {
        var random = SplitMix64(seed: range.lowerBound)
        var changed = ChangedKeys(range: range)
        for batch in 0..<6 {
            // Batches of 1, 2, 1, 3, 1, 4 pushes.
            let pushes = batch % 2 == 0 ? 1 : 1 + (batch + 1) / 2
            var expected = Set<UInt64>()
            for _ in 0..<pushes {
                let keys = Self.randomKeys(&random, count: 1_500, in: range)
                Self.add(&changed, keys)
                expected.formUnion(keys)
            }
            #expect(changed.take() == expected.sorted(), "batch \(batch) of \(pushes) push(es)")
            #expect(changed.take() == [])
        }
    }

    @Test("pushes of the same keys count once, and keys that match only at their ends are not taken for them", arguments: [
        KeyRange(1_000, 1_000 + 5_000), KeyRange(7, 7 + (1 << 24)), KeyRange(5, UInt64.max),
    ])
    func repeatedPushes(range: KeyRange) {
        var random = SplitMix64(seed: range.lowerBound &+ 99)
        var changed = ChangedKeys(range: range)
        let keys = Self.randomKeys(&random, count: 1_000, in: range)
        // The same length, first and last key, one key in the middle moved by one.
        var nearly = keys
        let middle = keys.count / 2
        nearly[middle] = keys[middle] + 1 < keys[middle + 1] ? keys[middle] + 1 : keys[middle] - 1
        #expect(nearly != keys && nearly == nearly.sorted() && Set(nearly).count == nearly.count)
        for _ in 0..<3 { Self.add(&changed, keys) }
        #expect(changed.recorded == 3 * keys.count)
        #expect(changed.take() == keys)
        for _ in 0..<3 { Self.add(&changed, keys) }
        Self.add(&changed, nearly)
        Self.add(&changed, keys)
        #expect(changed.take() == Set(keys).union(nearly).sorted())
        #expect(changed.take() == [])
    }
}
