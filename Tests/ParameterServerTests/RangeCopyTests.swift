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
        var keys: [UInt64] = []
        var entries: [Float] = []
        while let part = copy.nextPart(from: table) {
            part.keys!.withUnsafeBytes { keys += $0.bindMemory(to: UInt64.self) }
            part.values!.withUnsafeBytes { entries += $0.bindMemory(to: Float.self) }
        }
        #expect(copy.isDone)
        #expect(keys == Array(range.lowerBound..<range.upperBound))
        #expect(entries == store.snapshot(of: range).values)
        #expect(entries[0..<2] == [1_000, 1] && entries[10..<12] == [1_005, 1])
    }

    @Test("a bsp segment that applied iterations but holds no key is copied as one part without keys that carries the iteration; the new replica takes it")
    func aBSPSegmentsIterationTravelsWithoutKeys() throws {
        let spec = TableSpec(name: "weights", id: 3, valueLength: 2, consistency: .bsp)
        let range = KeyRange(UInt64(1) << 40, UInt64(1) << 41)  // sparse: no key stored
        let source = ServedTable(spec: spec, updater: AddUpdater(), ranges: [range], nodeCount: 0, workers: [NodeID(4)])
        let store = try #require(source.store(holding: range))
        #expect(store.appliedIteration == -1)
        #expect(try #require(RangeCopy(of: range, in: source)).partCount == 0)
        store.appliedIteration = 6
        store.resultSequence = 9
        var copy = try #require(RangeCopy(of: range, in: source))
        #expect(copy.partCount == 1)
        let next = copy.nextPart(from: source)
        let part = try #require(next)
        #expect(copy.isDone)
        #expect(copy.nextPart(from: source) == nil)
        #expect(part.keyCount == 0 && part.header.segments == [range] && part.header.iteration == 6 && part.header.timestamp == 9)
        // Through the wire and into a replica of the segment.
        let decoded = try MessageCodec.decodeEncoded(MessageCodec.encode(part))
        #expect(decoded.header.iteration == 6 && decoded.header.segments == [range])
        let replica = ServedTable(spec: spec, updater: AddUpdater(), ranges: [], replicaRanges: [range], nodeCount: 0, workers: [NodeID(4)])
        let pieces = try replica.replicaPieces(for: decoded)
        #expect(pieces.count == 1 && pieces[0].keys.isEmpty)
        #expect(pieces[0].store.write(replicate: decoded))
        #expect(pieces[0].store.appliedIteration == 6 && pieces[0].store.resultSequence == 0)
        #expect(pieces[0].store.storedKeyCount == 0)
    }

    @Test("the record of the pushes a range holds travels with its copy, in parts of at most originsPerPart, whole")
    func appliedOriginsTravelWithTheCopy() throws {
        let range = KeyRange(0, 100)
        let table = Self.table(range: range)
        let store = try #require(table.store(holding: range))
        Self.push([3, 7], to: store)
        var record = AppliedOrigins()
        // Two key parts' worth would not be enough: one part of keys, then origins-only parts.
        let count = 2 * RangeCopy.originsPerPart + 5
        for index in 0..<count {
            let origin = RequestOrigin(server: NodeID(2), sender: NodeID(5 + UInt32(index % 2)), requestID: UInt64(index / 2 + 1))
            record.insert(origin, table: 3, range: range)
        }
        record.insert(RequestOrigin(server: NodeID(2), sender: NodeID(9), requestID: 1), table: 3, range: KeyRange(100, 200))
        let origins = record.recent(table: 3, range: range)
        #expect(origins.count == count)
        var copy = try #require(RangeCopy(of: range, in: table, origins: origins))
        #expect(copy.partCount == 3)
        var received = AppliedOrigins()
        var parts = 0
        while let part = copy.nextPart(from: table) {
            parts += 1
            #expect(part.header.origins.count <= RangeCopy.originsPerPart)
            #expect(try HeaderCodec.decode(HeaderCodec.encode(part.header)).origins == part.header.origins)
            for origin in part.header.origins { received.insert(origin, table: 3, range: range) }
        }
        #expect(parts == copy.partCount && copy.isDone)
        #expect(received.recent(table: 3, range: range) == origins)
        #expect(!received.contains(RequestOrigin(server: NodeID(2), sender: NodeID(9), requestID: 1), table: 3, range: range))
        // Only the recent ids of a pair travel.
        var old = AppliedOrigins()
        for id in 1...(AppliedOrigins.copyWindow + 10) {
            old.insert(RequestOrigin(server: NodeID(1), sender: NodeID(4), requestID: id), table: 3, range: range)
        }
        #expect(old.recent(table: 3, range: range).map(\.requestID) == Array(11...(AppliedOrigins.copyWindow + 10)))
    }
}
