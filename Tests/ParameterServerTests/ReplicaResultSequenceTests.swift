import Testing

@testable import ParameterServer

/// A replica writes a result only when it holds no later one (``RangeStore/resultSequence``): a
/// result sent again after a reconfiguration never takes a copy back in time.
@Suite("Result sequence of a replicated range")
struct ReplicaResultSequenceTests {
    static let range = KeyRange(0, 16)

    /// The primary's store after `pushes` of `keys`, and the results it forwards, one batch a push
    /// in parts of one key.
    static func primary(pushing pushes: [[Float]], keys: [UInt64]) -> (RangeStore, [Message]) {
        let table = ServedTable(spec: TableSpec(name: "weights", id: 1), updater: AddUpdater(), ranges: [range], nodeCount: 0, workers: [])
        var results: [Message] = []
        for (index, values) in pushes.enumerated() {
            keys.withUnsafeBytes { raw in
                values.withUnsafeBytes { table.stores[0].push(keys: raw.baseAddress!, count: keys.count, values: $0.baseAddress!, updater: AddUpdater()) }
            }
            let sequence = table.resultSequence(of: range) + 1
            #expect(sequence == Int64(index + 1))
            results += table.results(range: range, keys: keys, origins: [], sequence: sequence, partKeys: 1).map(\.message)
        }
        return (table.stores[0], results)
    }

    @Test("each batch counts one more, its parts share the number, and an older result does not go over a later one")
    func olderResultIsNotWritten() {
        let keys: [UInt64] = [3, 7]
        let (primary, results) = Self.primary(pushing: [[1, 2], [10, 20]], keys: keys)
        // Two batches of two parts each (one key a part).
        #expect(results.map(\.header.timestamp) == [1, 1, 2, 2])
        #expect(primary.resultSequence == 2)

        let replica = RangeStore(range: Self.range, valueLength: 1, updater: AddUpdater())
        for result in results { #expect(replica.write(replicate: result)) }
        #expect(replica.snapshot(of: Self.range).values == primary.snapshot(of: Self.range).values)
        // The first batch sent again: both parts refused, the later values kept.
        #expect(!replica.write(replicate: results[0]))
        #expect(!replica.write(replicate: results[1]))
        #expect(replica.snapshot(of: Self.range).values == primary.snapshot(of: Self.range).values)
        #expect(replica.resultSequence == 2)
        // The last batch's parts again: written (the same values).
        #expect(replica.write(replicate: results[3]))
        #expect(replica.snapshot(of: Self.range).values == primary.snapshot(of: Self.range).values)
    }

    @Test("a fresh replica takes an old result and then the later one; a piece keeps the number")
    func freshReplicaAndPieces() {
        let keys: [UInt64] = [3, 12]
        let (primary, results) = Self.primary(pushing: [[1, 2], [10, 20]], keys: keys)
        let replica = RangeStore(range: Self.range, valueLength: 1, updater: AddUpdater())
        #expect(replica.write(replicate: results[0]))
        #expect(replica.resultSequence == 1)
        for result in results.dropFirst() { #expect(replica.write(replicate: result)) }
        #expect(replica.snapshot(of: Self.range).values == primary.snapshot(of: Self.range).values)
        let piece = replica.piece(KeyRange(8, 16))
        #expect(piece.resultSequence == 2)
        #expect(!piece.write(replicate: results[1]))
    }
}
