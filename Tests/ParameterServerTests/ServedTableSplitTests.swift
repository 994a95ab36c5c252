import Testing
import ZeroMQ

@testable import ParameterServer

/// A server cutting its stores when a join cuts a segment of the ring (docs/FAULT-TOLERANCE.md,
/// "Joins"): every piece keeps the values, updater state and clock entries, and the record of applied
/// pushes, it held.
@Suite("Stores cut for a join")
struct ServedTableSplitTests {
    static func entries(of store: RangeStore, keys: [UInt64]) -> [Float] {
        var output = [Float](repeating: -1, count: keys.count * store.entryWidth)
        keys.withUnsafeBytes { raw in
            output.withUnsafeMutableBufferPointer { store.readEntries(keys: raw.baseAddress!, count: keys.count, into: $0.baseAddress!) }
        }
        return output
    }

    static func push(_ keys: [UInt64], to store: RangeStore, updater: any Updater) {
        let values = keys.flatMap { key in (0..<store.valueLength).map { Float((key + UInt64($0)) % 7) - 3 } }
        keys.withUnsafeBytes { raw in
            values.withUnsafeBytes { store.push(keys: raw.baseAddress!, count: keys.count, values: $0.baseAddress!, updater: updater) }
        }
    }

    @Test("primary and replica stores cut along the given ranges keep every key's values, updater state and clock entries")
    func piecesKeepTheirEntries() throws {
        let spec = TableSpec(name: "weights", id: 1, valueLength: 2, updater: "adagrad")
        let updater = try UpdaterRegistry.builtIn.make("adagrad")
        let primary = KeyRange(0, 100)
        let replica = KeyRange(100, 200)
        let table = ServedTable(spec: spec, updater: updater, ranges: [primary], replicaRanges: [replica], nodeCount: 4, workers: [])
        let keys = (0..<200).filter { $0 % 3 != 0 }.map(UInt64.init)
        let held = [try #require(table.store(holding: primary)), try #require(table.store(holding: replica))]
        #expect(held.allSatisfy { $0.entryWidth == 4 })
        for store in held { Self.push(keys.filter { store.range.contains($0) }, to: store, updater: updater) }
        let before = held.map { store in Self.entries(of: store, keys: keys.filter { store.range.contains($0) }) }
        table.recordApplied(sender: NodeID(2), timestamp: 5, spans: [(store: 0, keys: KeyRange(20, 70))])
        table.applyClockRecords([ClockRecord(node: 6, range: KeyRange(140, 160), timestamp: Timestamp(8))], to: replica)

        // A piece inside each, one exactly a store (nothing to cut), one outside both.
        table.split(toFit: [KeyRange(30, 60), KeyRange(150, 200), KeyRange(0, 0), KeyRange(300, 400)])
        #expect(table.stores.map(\.range) == [KeyRange(0, 30), KeyRange(30, 60), KeyRange(60, 100)])
        #expect(table.replicas.map(\.range) == [KeyRange(100, 150), KeyRange(150, 200)])
        #expect(Set(table.clocks.keys) == Set((table.stores + table.replicas).map(\.range)))
        // Each piece's clock holds the entries of its keys, on primaries and replicas alike.
        func clock(_ range: KeyRange) -> [ClockRecord] { table.clockRecords(of: range, in: range, limit: .max) }
        #expect(clock(KeyRange(0, 30)) == [ClockRecord(node: 2, range: KeyRange(20, 30), timestamp: Timestamp(5))])
        #expect(clock(KeyRange(30, 60)) == [ClockRecord(node: 2, range: KeyRange(30, 60), timestamp: Timestamp(5))])
        #expect(clock(KeyRange(60, 100)) == [ClockRecord(node: 2, range: KeyRange(60, 70), timestamp: Timestamp(5))])
        #expect(clock(KeyRange(100, 150)) == [ClockRecord(node: 6, range: KeyRange(140, 150), timestamp: Timestamp(8))])
        #expect(clock(KeyRange(150, 200)) == [ClockRecord(node: 6, range: KeyRange(150, 160), timestamp: Timestamp(8))])
        for (index, range) in [primary, replica].enumerated() {
            let pieces = (index == 0 ? table.stores : table.replicas).filter { range.contains($0.range) }
            for piece in pieces {
                let pieceKeys = keys.filter { piece.range.contains($0) }
                #expect(Self.entries(of: piece, keys: pieceKeys) == Self.entries(of: held[index], keys: pieceKeys), "\(piece.range)")
            }
            let after = pieces.flatMap { piece in Self.entries(of: piece, keys: keys.filter { piece.range.contains($0) }) }
            #expect(after.count == before[index].count, "\(range)")
            #expect(after == before[index], "\(range)")
            #expect(after.contains { $0 != 0 })
        }
        // Cutting along the stores' own ranges changes nothing.
        let ranges = table.stores.map(\.range) + table.replicas.map(\.range)
        table.split(toFit: ranges)
        #expect(table.stores.map(\.range) + table.replicas.map(\.range) == ranges)
    }

    @Test("an untouched store's pieces are untouched")
    func untouchedPieces() throws {
        let store = RangeStore(range: KeyRange(0, 10), valueLength: 1, updater: AddUpdater())
        #expect(store.piece(KeyRange(2, 5)).isUntouched)
        Self.push([3], to: store, updater: AddUpdater())
        #expect(!store.piece(KeyRange(2, 5)).isUntouched)
        #expect(Self.entries(of: store.piece(KeyRange(2, 5)), keys: [2, 3, 4]) == [0, 0, 0])
    }

    @Test("a sorted store's piece holds exactly its stored keys inside the piece, with their entries")
    func sortedPieces() throws {
        let updater = try UpdaterRegistry.builtIn.make("adagrad")
        let store = RangeStore(range: KeyRange(0, 1 << 40), valueLength: 3, updater: updater, denseLimit: 0)
        #expect(!store.isDense)
        let keys: [UInt64] = [5, 9, 1 << 20, (1 << 20) + 1, 1 << 39]
        Self.push(keys, to: store, updater: updater)
        let piece = store.piece(KeyRange(6, 1 << 39))
        #expect(piece.storedKeys(in: piece.range) == [9, 1 << 20, (1 << 20) + 1])
        #expect(Self.entries(of: piece, keys: [9, 1 << 20, (1 << 20) + 1]) == Self.entries(of: store, keys: [9, 1 << 20, (1 << 20) + 1]))
    }

    @Test("the record of applied pushes follows the pieces of a cut range")
    func appliedOriginsFollowThePieces() {
        var record = AppliedOrigins()
        let origin = RequestOrigin(server: NodeID(1), sender: NodeID(4), requestID: 9)
        record.insert(origin, table: 0, range: KeyRange(0, 100))
        record.insert(origin, table: 1, range: KeyRange(0, 100))
        record.split(table: 0, range: KeyRange(0, 100), into: [KeyRange(0, 40), KeyRange(40, 100)])
        #expect(record.contains(origin, table: 0, range: KeyRange(0, 40)))
        #expect(record.contains(origin, table: 0, range: KeyRange(40, 100)))
        #expect(!record.contains(origin, table: 0, range: KeyRange(0, 100)))
        #expect(record.contains(origin, table: 1, range: KeyRange(0, 100)))
    }
}
