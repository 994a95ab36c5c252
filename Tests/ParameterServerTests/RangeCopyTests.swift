import Testing
import ZeroMQ

@testable import ParameterServer

/// The copy of a range to a new replica (docs/FAULT-TOLERANCE.md, re-protection).
@Suite("Range copies")
struct RangeCopyTests {
    static let spec = TableSpec(name: "weights", id: 3, valueLength: 2)

    static func table(range: KeyRange) -> ServedTable {
        ServedTable(spec: spec, updater: AddUpdater(), ranges: [range], nodeCount: 0, workers: [])
    }

    static func push(_ keys: [UInt64], to store: RangeStore) {
        let values = keys.flatMap { key -> [Float] in [Float(key), 1] }
        keys.withUnsafeBytes { raw in
            values.withUnsafeBytes { store.push(keys: raw.baseAddress!, count: keys.count, values: $0.baseAddress!, updater: AddUpdater()) }
        }
    }

    @Test("a store nothing was written to is not copied; once written, every key goes, in parts, with its values")
    func untouchedStoresAreNotCopied() throws {
        let range = KeyRange(1_000, 1_000 + 3 * UInt64(RangeCopy.partKeys) / 2)
        let table = Self.table(range: range)
        let untouched = try #require(RangeCopy(of: range, in: table))
        #expect(untouched.partCount == 0 && untouched.isDone)

        let store = try #require(table.store(holding: range))
        Self.push([1_000, 1_005, range.upperBound - 1], to: store)
        var copy = try #require(RangeCopy(of: range, in: table))
        #expect(copy.partCount == 2)
        let origin = RequestOrigin(server: NodeID(1), sender: NodeID(1), requestID: 0)
        var keys: [UInt64] = []
        var entries: [Float] = []
        while let part = copy.nextPart(from: table, origin: origin) {
            part.keys!.withUnsafeBytes { keys += $0.bindMemory(to: UInt64.self) }
            part.values!.withUnsafeBytes { entries += $0.bindMemory(to: Float.self) }
        }
        #expect(copy.isDone)
        #expect(keys == Array(range.lowerBound..<range.upperBound))
        #expect(entries == store.snapshot(of: range).values)
        #expect(entries[0..<2] == [1_000, 1] && entries[10..<12] == [1_005, 1])
    }
}
