import Testing
@testable import ParameterServer

@Suite("Dense store gather loop")
struct DenseGatherTests {
    @Test("a pull reads back every pushed value, from keys at an unaligned address")
    func readsBackPushedValues() throws {
        let store = RangeStore(range: KeyRange(1_000, 1_000 + 4_096), valueLength: 1, updater: try UpdaterRegistry.builtIn.make("add"))
        let keys: [UInt64] = (0..<512).map { 1_000 + UInt64($0) * 7 + UInt64($0 % 3) }
        let values: [Float] = (0..<512).map { Float($0) * 0.5 - 64 }
        // One spare byte in front puts the keys at an odd address, as libzmq may deliver them.
        var shifted = [UInt8](repeating: 0, count: 1 + 8 * keys.count)
        keys.withUnsafeBytes { source in
            shifted.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: 1).copyMemory(from: source.baseAddress!, byteCount: source.count) }
        }
        values.withUnsafeBytes { valueBytes in
            shifted.withUnsafeBytes { keyBytes in
                store.push(keys: keyBytes.baseAddress! + 1, count: keys.count, values: valueBytes.baseAddress!, updater: store.updater)
            }
        }
        var read = [Float](repeating: .nan, count: keys.count)
        shifted.withUnsafeBytes { keyBytes in
            read.withUnsafeMutableBytes { store.pull(keys: keyBytes.baseAddress! + 1, count: keys.count, into: $0.baseAddress!) }
        }
        #expect(read == values)
        var untouched: Float = .nan
        let gap: [UInt64] = [1_001]
        gap.withUnsafeBytes { keyBytes in
            withUnsafeMutableBytes(of: &untouched) { store.pull(keys: keyBytes.baseAddress!, count: 1, into: $0.baseAddress!) }
        }
        #expect(untouched == 0)
    }

    @Test(
        "counts below, at and past the prefetch distance: each key is added and read exactly once",
        arguments: [0, 1, prefetchDistance - 1, prefetchDistance, prefetchDistance + 1, 3 * prefetchDistance + 5])
    func countsAroundThePrefetchDistance(count: Int) throws {
        let store = RangeStore(range: KeyRange(0, 1 << 16), valueLength: 1, updater: try UpdaterRegistry.builtIn.make("add"))
        // Keys far apart, so that every slot is a line of its own, and the last slot of the range.
        let keys: [UInt64] = (0..<count).map { UInt64($0) * 97 + ($0 == count - 1 ? UInt64((1 << 16) - 1) - UInt64($0) * 97 : 0) }
        let first: [Float] = (0..<count).map { Float($0) + 0.25 }
        let second: [Float] = (0..<count).map { Float(-3 * $0) }
        for values in [first, second] {
            keys.withUnsafeBytes { keyBytes in
                values.withUnsafeBytes { valueBytes in
                    guard let keyBase = keyBytes.baseAddress, let valueBase = valueBytes.baseAddress else { return }
                    store.push(keys: keyBase, count: count, values: valueBase, updater: store.updater)
                }
            }
        }
        var read = [Float](repeating: .nan, count: count)
        keys.withUnsafeBytes { keyBytes in
            read.withUnsafeMutableBytes { output in
                guard let keyBase = keyBytes.baseAddress, let outputBase = output.baseAddress else { return }
                store.pull(keys: keyBase, count: count, into: outputBase)
            }
        }
        #expect(read == zip(first, second).map { $0 + $1 })
    }
}
