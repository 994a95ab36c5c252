import Testing
import ZeroMQ

@testable import ParameterServer

/// Bundles (``ReplicateBundle``): a flush sends the whole results of the ranges that share a next
/// server as one replicate, acknowledged once; a range of a bundle whose next server changes is
/// sent again alone; and the next server writes each range of a bundle into its own replica.
@Suite("Replicate bundles")
struct ReplicateBundleTests {
    static let first = KeyRange(0, 100)
    static let second = KeyRange(200, 300)
    static let third = KeyRange(400, 500)

    static func origin(_ sender: UInt32, _ id: UInt64) -> RequestOrigin {
        RequestOrigin(server: NodeID(1), sender: NodeID(sender), requestID: id)
    }

    /// A range's result: `keys` with the entry `Float(key) / 2` each, under `origins`.
    static func result(_ keys: [UInt64], origins: [RequestOrigin]) -> Message {
        var header = Header(kind: .replicate, table: 0, keyCount: UInt32(keys.count), valueLength: 1)
        header.origins = origins
        return Message(header: header, keys: Frame(array: keys), values: Frame(array: keys.map { Float($0) / 2 }))
    }

    static func reply(_ id: UInt64) -> ChainReplication.HeldReply { ReplicationBatchTests.reply(id) }

    static func released(_ directives: [ChainReplication.Directive]) -> [UInt64] { ReplicationBatchTests.released(directives) }

    static func sent(_ directives: [ChainReplication.Directive]) -> [(message: Message, to: NodeID)] {
        directives.compactMap { if case .send(let message, let to) = $0 { (message, to) } else { nil } }
    }

    static func keys(_ message: Message) -> [UInt64] { message.keys?.withUnsafeBytes { Array($0.bindMemory(to: UInt64.self)) } ?? [] }
    static func entries(_ message: Message) -> [Float] { message.values?.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) } ?? [] }

    /// Server 1 heads three ranges: the first two with server 2 next, the third with server 3.
    static func chains() -> ChainReplication {
        var chains = ChainReplication(me: NodeID(1))
        _ = chains.reconfigure([
            ReplicaChain(range: first, nodes: [NodeID(1), NodeID(2)]),
            ReplicaChain(range: second, nodes: [NodeID(1), NodeID(2)]),
            ReplicaChain(range: third, nodes: [NodeID(1), NodeID(3)]),
        ], version: 1)
        return chains
    }

    @Test("the ranges with the same next server go as one replicate, keys ascending, every push named once, acknowledged once")
    func rangesWithOneSuccessorGoTogether() {
        var chains = Self.chains()
        chains.hold(Self.reply(10))
        let flushed = chains.flush(results: [
            (Self.first, Self.result([3, 7], origins: [Self.origin(5, 1), Self.origin(6, 1)])),
            (Self.second, Self.result([201, 250, 299], origins: [Self.origin(5, 1)])),
            (Self.third, Self.result([450], origins: [Self.origin(6, 1)])),
        ])
        let sent = Self.sent(flushed)
        #expect(sent.map(\.to) == [NodeID(2), NodeID(3)])
        #expect(Self.keys(sent[0].message) == [3, 7, 201, 250, 299])
        #expect(Self.entries(sent[0].message) == [1.5, 3.5, 100.5, 125, 149.5])
        #expect(sent[0].message.header.keyCount == 5)
        #expect(sent[0].message.header.origins == [Self.origin(5, 1), Self.origin(6, 1)])
        #expect(Self.keys(sent[1].message) == [450])
        #expect(chains.replicatedKeys == 6)
        #expect(chains.hasUnacknowledged(overlapping: Self.second))
        #expect(Self.released(chains.acknowledged(1, by: NodeID(3))) == [])
        // One acknowledgement covers both ranges of the bundle.
        #expect(Self.released(chains.acknowledged(1, by: NodeID(2))) == [10])
        #expect(!chains.hasUnacknowledged(overlapping: Self.first) && !chains.hasUnacknowledged(overlapping: Self.second))
        #expect(!chains.awaitsFlushAcknowledgement)
    }

    @Test("a range whose result takes several parts is not bundled: its parts go alone, in order")
    func resultsInPartsGoAlone() {
        var chains = Self.chains()
        let flushed = chains.flush(results: [
            (Self.first, Self.result([1, 2], origins: [])),
            (Self.first, Self.result([3], origins: [Self.origin(5, 1)])),
            (Self.second, Self.result([210], origins: [Self.origin(5, 1)])),
        ])
        #expect(Self.sent(flushed).map { Self.keys($0.message) } == [[1, 2], [3], [210]])
        #expect(Self.sent(flushed).map(\.message.header.requestID) == [1, 2, 3])
    }

    @Test("when the next server of one range of a bundle changes, that range alone goes to the new one, the rest waits for the old one's acknowledgement, and the reply waits for both")
    func aMovedRangeOfABundleGoesAlone() {
        var chains = Self.chains()
        chains.hold(Self.reply(20))
        let flushed = chains.flush(results: [
            (Self.first, Self.result([3, 7], origins: [Self.origin(5, 1)])),
            (Self.second, Self.result([201, 250], origins: [Self.origin(5, 1)])),
        ])
        #expect(Self.sent(flushed).count == 1)
        // Server 4 replaces server 2 in the second range's chain only.
        let changed = chains.reconfigure([
            ReplicaChain(range: Self.first, nodes: [NodeID(1), NodeID(2)]),
            ReplicaChain(range: Self.second, nodes: [NodeID(1), NodeID(4)]),
            ReplicaChain(range: Self.third, nodes: [NodeID(1), NodeID(3)]),
        ], version: 2, members: [NodeID(1), NodeID(2), NodeID(3), NodeID(4)])
        let resent = Self.sent(changed.directives)
        #expect(resent.map(\.to) == [NodeID(4)])
        #expect(Self.keys(resent[0].message) == [201, 250])
        #expect(Self.entries(resent[0].message) == [100.5, 125])
        #expect(resent[0].message.header.origins == [Self.origin(5, 1)])
        #expect(resent[0].message.header.tableVersion == 2)
        #expect(Self.released(chains.acknowledged(1, by: NodeID(2))) == [], "the second range is not on server 4 yet")
        #expect(!chains.hasUnacknowledged(overlapping: Self.first))
        #expect(Self.released(chains.acknowledged(1, by: NodeID(4))) == [20])
    }

    @Test("the next server writes each range of a bundle into its own replica")
    func aBundleIsWrittenRangeByRange() throws {
        let spec = TableSpec(name: "weights", id: 0)
        let table = ServedTable(
            spec: spec, updater: AddUpdater(), ranges: [KeyRange(100, 200)], replicaRanges: [Self.first, Self.second],
            nodeCount: 4, workers: [])
        let (bundle, pieces) = ReplicateBundle.bundle([
            (Self.first, Self.result([3, 7], origins: [])), (Self.second, Self.result([201, 299], origins: [])),
        ])
        #expect(pieces.map(\.keys) == [0..<2, 2..<4])
        let found = try table.replicaPieces(for: bundle)
        #expect(found.map(\.store.range) == [Self.first, Self.second])
        #expect(found.map(\.keys) == [0..<2, 2..<4])
        for piece in found { piece.store.write(replicate: bundle, keys: piece.keys) }
        let firstValues = table.store(holding: Self.first)!.snapshot(of: Self.first).values
        let secondValues = table.store(holding: Self.second)!.snapshot(of: Self.second).values
        var expectedFirst = [Float](repeating: 0, count: 100)
        expectedFirst[3] = 1.5
        expectedFirst[7] = 3.5
        var expectedSecond = [Float](repeating: 0, count: 100)
        expectedSecond[1] = 100.5
        expectedSecond[99] = 149.5
        #expect(firstValues == expectedFirst)
        #expect(secondValues == expectedSecond)
    }
}
