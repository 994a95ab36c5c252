import Testing
import ZeroMQ

@testable import ParameterServer

@Suite("Filters: significantly modified and KKT")
struct FilterValueTests {
    static func push(_ keys: [UInt64], _ values: [Float], valueLength: Int = 1) -> Message {
        Message(
            header: Header(kind: .push, table: 0, keyCount: UInt32(keys.count), valueLength: UInt32(valueLength)),
            keys: Frame(array: keys), values: Frame(array: values))
    }

    @Test("Small changes accumulate locally and go out, summed, once they exceed the threshold")
    func significantlyModifiedAccumulates() throws {
        var filter = SignificantlyModifiedFilter(threshold: 1.0, valueLength: 1)
        let first = filter.filter(Self.push([1, 2, 3], [0.6, 2.0, -0.3]))
        #expect(KeyFrame(first.keys!).elements == [2])
        #expect(ValueFrame(first.values!).elements == [2.0])
        #expect(first.header.keyCount == 1)
        #expect(filter.pendingKeyCount == 2)

        let second = filter.filter(Self.push([1, 3, 4], [0.6, -0.3, 0.1]))
        // Key 1: 0.6 + 0.6 = 1.2 goes out; key 3: -0.6 stays; key 4: 0.1 stays.
        #expect(KeyFrame(second.keys!).elements == [1])
        #expect(ValueFrame(second.values!).elements == [Float(0.6) + Float(0.6)])
        #expect(filter.pendingKeyCount == 2)

        let flush = filter.flush()
        let flushed = try #require(flush)
        #expect(flushed.keys == [3, 4])
        #expect(flushed.values == [Float(-0.3) + Float(-0.3), 0.1])
        #expect(filter.pendingKeyCount == 0)
        #expect(filter.flush() == nil)
    }

    @Test("With several floats per key, one significant component sends the whole entry")
    func significantlyModifiedVector() {
        var filter = SignificantlyModifiedFilter(threshold: 0.5, valueLength: 2)
        let result = filter.filter(Self.push([7, 8], [0.1, 0.9, 0.2, 0.2], valueLength: 2))
        #expect(KeyFrame(result.keys!).elements == [7])
        #expect(ValueFrame(result.values!).elements == [0.1, 0.9])
        #expect(filter.pendingKeyCount == 1)
    }

    @Test("KKT: entries of zero weights with |g| ≤ λ are held; non-zero weights and unknown keys are sent")
    func kktHoldsInactiveEntries() throws {
        var filter = KKTFilter(lambda: 0.5, valueLength: 1)
        filter.observe(keys: [1, 2, 3, 4], weights: [0, 0, 0.25, 0])
        let result = filter.filter(Self.push([1, 2, 3, 4, 9], [0.4, -0.6, 0.1, -0.5, 0.01]))
        // 1: w=0, |g|=0.4 ≤ 0.5 → held. 2: |g|=0.6 → sent. 3: w≠0 → sent. 4: |g|=0.5 ≤ λ → held. 9: unknown → sent.
        #expect(KeyFrame(result.keys!).elements == [2, 3, 9])
        #expect(ValueFrame(result.values!).elements == [-0.6, 0.1, 0.01])
        #expect(result.header.keyCount == 3)
        #expect(filter.pendingKeyCount == 2)

        // Key 1 again: 0.4 + 0.2 = 0.6 > λ, so the sum goes out; key 4: -0.5 + 0.25 = -0.25 stays held.
        let second = filter.filter(Self.push([1, 4], [0.2, 0.25]))
        #expect(KeyFrame(second.keys!).elements == [1])
        #expect(ValueFrame(second.values!).elements == [Float(0.4) + Float(0.2)])
        #expect(filter.pendingKeyCount == 1)

        let flush = filter.flush()
        let flushed = try #require(flush)
        #expect(flushed.keys == [4])
        #expect(flushed.values == [Float(-0.5) + Float(0.25)])
        #expect(filter.flush() == nil)
    }

    @Test("KKT without a pull passes pushes unchanged")
    func kktWithoutWeights() {
        var filter = KKTFilter(lambda: 10, valueLength: 1)
        let push = Self.push([1, 2], [0.1, 0.2])
        #expect(filter.filter(push).keys == push.keys)
        #expect(filter.pendingKeyCount == 0)
    }

    @Test("KKT loses nothing: what was sent plus what the flush returns is, per key, what was pushed",
          arguments: [1, 3])
    func kktConservesGradients(valueLength: Int) throws {
        var random = SplitMix64(seed: 0x6B6B74 &+ UInt64(valueLength))
        var filter = KKTFilter(lambda: 0.3, valueLength: valueLength)
        var pushed: [UInt64: [Double]] = [:]
        var sent: [UInt64: [Double]] = [:]
        var heldAtSomePoint = 0
        func add(_ into: inout [UInt64: [Double]], _ key: UInt64, _ values: ArraySlice<Float>) {
            var sum = into[key] ?? Array(repeating: 0, count: valueLength)
            for (j, value) in values.enumerated() { sum[j] += Double(value) }
            into[key] = sum
        }
        for _ in 0..<200 {
            let keys = Array(Set((0..<40).map { _ in random.next() % 100 })).sorted()
            // Most weights zero, a few not; some pulls cover other keys than the push.
            let pulledKeys = random.next() % 4 == 0 ? keys.map { $0 + 1 } : keys
            let weights = (0..<(pulledKeys.count * valueLength)).map { _ in random.next() % 5 == 0 ? Float(0.5) : 0 }
            filter.observe(keys: pulledKeys, weights: weights)
            let values = (0..<(keys.count * valueLength)).map { _ in Float(Int(random.next() % 41) - 20) / 100 }
            for (index, key) in keys.enumerated() {
                add(&pushed, key, values[(index * valueLength)..<((index + 1) * valueLength)])
            }
            let result = filter.filter(Self.push(keys, values, valueLength: valueLength))
            let outKeys = KeyFrame(result.keys!).elements
            let outValues = ValueFrame(result.values!).elements
            #expect(outKeys == outKeys.sorted() && Set(outKeys).count == outKeys.count)
            for (index, key) in outKeys.enumerated() {
                add(&sent, key, outValues[(index * valueLength)..<((index + 1) * valueLength)])
            }
            heldAtSomePoint = max(heldAtSomePoint, filter.pendingKeyCount)
        }
        #expect(heldAtSomePoint > 0, "the filter never held anything back, so the test checks nothing")
        let flush = filter.flush()
        let flushed = try #require(flush)
        for (index, key) in flushed.keys.enumerated() {
            add(&sent, key, flushed.values[(index * valueLength)..<((index + 1) * valueLength)])
        }
        #expect(Set(sent.keys) == Set(pushed.keys))
        for (key, total) in pushed {
            for j in 0..<valueLength { #expect(abs(total[j] - sent[key]![j]) < 1e-4, "key \(key)") }
        }
    }

    @Test("The chain's flush returns what both value filters hold, summed per key")
    func chainFlushMergesFilters() throws {
        var chain = FilterChain(tables: [(id: 0, filters: FilterSettings(significantlyModifiedThreshold: 0.5, kktLambda: 1), valueLength: 1)])
        chain.observePull(table: 0, keys: [1, 2, 3], weights: [0, 0, 0])
        // Significantly modified holds 1 (0.2); 2 (0.7) and 3 (0.8) pass it and KKT holds them (≤ 1).
        let first = chain.filterPush(Self.push([1, 2, 3], [0.2, 0.7, 0.8]))
        #expect(first.header.keyCount == 0)
        // 1: 0.2 + 0.4 = 0.6 passes significantly modified, KKT holds it (0.6 ≤ 1); 2: 0.1 held by significantly modified.
        _ = chain.filterPush(Self.push([1, 2], [0.4, 0.1]))
        #expect(chain.pendingKeyCount(table: 0) == 4)
        let flush = chain.flushPending(table: 0)
        let flushed = try #require(flush)
        #expect(flushed.keys == [1, 2, 3])
        #expect(flushed.values == [Float(0.2) + Float(0.4), Float(0.7) + Float(0.1), 0.8])
        #expect(chain.pendingKeyCount(table: 0) == 0)
        #expect(chain.flushPending(table: 0) == nil)
    }

    @Test("The chain counts bytes and keys before and after each stage")
    func chainStatistics() {
        var chain = FilterChain(tables: [(id: 0, filters: FilterSettings(significantlyModifiedThreshold: 1, kktLambda: 0.5), valueLength: 1)])
        chain.observePull(table: 0, keys: [1, 2, 3, 4], weights: [0, 0, 0, 1])
        _ = chain.filterPush(Self.push([1, 2, 3, 4], [0.2, 3, 0.7, 2]))
        let significant = chain.report.sent[.significantlyModified]
        #expect(significant?.keysBefore == 4)
        #expect(significant?.keysAfter == 2)
        #expect(significant?.bytesBefore == 48)
        #expect(significant?.bytesAfter == 24)
        // Keys 2 (|g| = 3 > λ) and 4 (w ≠ 0) survive KKT.
        #expect(chain.report.sent[.kkt]?.keysAfter == 2)
        #expect(chain.pendingKeyCount(table: 0) == 2)
    }
}

@Suite("Filters: range functions")
struct FilterRangeFunctionTests {
    @Test("scale, set and proximal_l1 change exactly the stored keys inside the range")
    func builtInFunctions() throws {
        let store = RangeStore(range: KeyRange(0, 10), valueLength: 1, updater: AddUpdater())
        let keys: [UInt64] = Array(0..<10)
        let values: [Float] = [-3, -1, 0, 0.5, 1, 2, 3, 4, 5, 6]
        keys.withUnsafeBytes { k in values.withUnsafeBytes { v in store.push(keys: k.baseAddress!, count: 10, values: v.baseAddress!, updater: AddUpdater()) } }

        let registry = RangeFunctionRegistry.builtIn
        #expect(store.apply(try registry.make("proximal_l1", arguments: [1]), on: KeyRange(0, 5)) == 5)
        #expect(store.apply(try registry.make("scale", arguments: [2]), on: KeyRange(5, 8)) == 3)
        #expect(store.apply(try registry.make("set", arguments: [7]), on: KeyRange(9, 20)) == 1)
        #expect(store.snapshot(of: KeyRange(0, 10)).values == [-2, 0, 0, 0, 0, 4, 6, 8, 5, 7])
    }

    @Test("In the sorted layout only stored keys are touched")
    func sortedLayout() throws {
        let store = RangeStore(range: KeyRange(0, 1 << 40), valueLength: 2, updater: AddUpdater(), denseLimit: 16)
        let keys: [UInt64] = [5, 1000, 1 << 30]
        let values: [Float] = [1, 2, 3, 4, 5, 6]
        keys.withUnsafeBytes { k in values.withUnsafeBytes { v in store.push(keys: k.baseAddress!, count: 3, values: v.baseAddress!, updater: AddUpdater()) } }
        #expect(store.apply(ScaleFunction(factor: -1), on: KeyRange(6, 1 << 31)) == 2)
        let snapshot = store.snapshot(of: KeyRange(0, 1 << 40))
        #expect(snapshot.keys == keys)
        #expect(snapshot.values == [1, 2, -3, -4, -5, -6])
    }

    @Test("Unknown names and bad arguments are errors with the wire code to report")
    func errors() {
        let registry = RangeFunctionRegistry.builtIn
        #expect(registry.names == ["proximal_l1", "scale", "set"])
        #expect(throws: StorageError(.unknownFunction, "no range function named 'shrink'; registered: proximal_l1, scale, set")) {
            try registry.make("shrink", arguments: [])
        }
        #expect(throws: StorageError.self) { try registry.make("scale", arguments: []) }
        #expect(throws: StorageError.self) { try registry.make("proximal_l1", arguments: [-1]) }
        #expect(throws: StorageError.self) { try registry.make("set", arguments: [1e300]) }
    }
}
