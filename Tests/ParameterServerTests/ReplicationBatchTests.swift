import Testing
import ZeroMQ

@testable import ParameterServer

/// Replication after aggregation: the primary forwards each changed key once per flush, and a
/// push's reply waits for every replica to hold what its flush sent.
@Suite("Replication batches")
struct ReplicationBatchTests {
    static let range = KeyRange(0, 100)

    static func add(_ batch: inout ReplicationBatch, _ keys: [UInt64], table: UInt32 = 0, range: KeyRange = range, origin: RequestOrigin) {
        batch.add(table: table, range: range, keys: Frame(array: keys), at: 0..<keys.count, origin: origin)
    }

    static func origin(_ sender: UInt32, _ id: UInt64) -> RequestOrigin {
        RequestOrigin(server: NodeID(1), sender: NodeID(sender), requestID: id)
    }

    @Test("keys pushed by several pushes go once, sorted, with every push named")
    func keysAreMergedOnce() {
        var batch = ReplicationBatch()
        Self.add(&batch, [3, 7, 9], origin: Self.origin(5, 1))
        Self.add(&batch, [1, 7, 9, 42], origin: Self.origin(6, 1))
        Self.add(&batch, [7], table: 2, origin: Self.origin(5, 2))
        #expect(batch.keyCount == 8)
        let parts = batch.take()
        #expect(parts.map(\.table) == [0, 2])
        #expect(parts[0].keys == [1, 3, 7, 9, 42])
        #expect(parts[0].origins == [Self.origin(5, 1), Self.origin(6, 1)])
        #expect(parts[1].keys == [7])
        #expect(parts[1].origins == [Self.origin(5, 2)])
        #expect(batch.isEmpty && batch.keyCount == 0)
        #expect(batch.take().isEmpty)
    }

    static func reply(_ id: UInt64) -> ChainReplication.HeldReply {
        ChainReplication.HeldReply(
            reply: Message(header: Header(kind: .pushAck, sender: NodeID(1), requestID: id)), peer: .endpoint("mem://worker"),
            sender: NodeID(5), requestID: id)
    }

    static func released(_ directives: [ChainReplication.Directive]) -> [UInt64] {
        directives.compactMap { if case .release(let held) = $0 { held.requestID } else { nil } }
    }

    static func sent(_ directives: [ChainReplication.Directive]) -> [(UInt64, NodeID)] {
        directives.compactMap { if case .send(let message, let to) = $0 { (message.header.requestID, to) } else { nil } }
    }

    @Test("replies held since the last flush are released once every replicate of it is acknowledged")
    func repliesWaitForTheWholeFlush() {
        var chains = ChainReplication(me: NodeID(1))
        let other = KeyRange(100, 200)
        _ = chains.reconfigure(
            [ReplicaChain(range: Self.range, nodes: [NodeID(1), NodeID(2)]), ReplicaChain(range: other, nodes: [NodeID(1), NodeID(3)])],
            version: 4)
        chains.hold(Self.reply(10))
        chains.hold(Self.reply(11))
        let message = Message(header: Header(kind: .replicate, table: 0, keyCount: 0, valueLength: 1))
        #expect(!chains.awaitsFlushAcknowledgement)
        let flushed = chains.flush(results: [(Self.range, message), (other, message)])
        #expect(Self.released(flushed) == [])
        #expect(chains.awaitsFlushAcknowledgement, "pushes applied from now on gather into the next flush")
        #expect(Self.sent(flushed).map(\.1) == [NodeID(2), NodeID(3)])
        // Every forwarded replicate carries the table version of the chains.
        #expect(flushed.allSatisfy { if case .send(let m, _) = $0 { m.header.tableVersion == 4 } else { false } })
        #expect(Self.released(chains.acknowledged(1, by: NodeID(2))) == [])
        #expect(Self.released(chains.acknowledged(1, by: NodeID(2))) == [], "an acknowledgement counts once")
        #expect(chains.awaitsFlushAcknowledgement)
        #expect(Self.released(chains.acknowledged(1, by: NodeID(3))) == [10, 11])
        #expect(!chains.awaitsFlushAcknowledgement)
        // Nothing down a chain: released at the flush.
        chains.hold(Self.reply(12))
        #expect(Self.released(chains.flush(results: [(KeyRange(500, 600), message)])) == [12])
        #expect(!chains.awaitsFlushAcknowledgement)
    }

    @Test("a successor that dies: what it did not acknowledge goes to the next one, or counts as held at the new tail")
    func reconfigurationResendsOrReleases() {
        var chains = ChainReplication(me: NodeID(1))
        _ = chains.reconfigure([ReplicaChain(range: Self.range, nodes: [NodeID(1), NodeID(2), NodeID(3)])], version: 1)
        chains.hold(Self.reply(20))
        let message = Message(header: Header(kind: .replicate, table: 0, keyCount: 0, valueLength: 1))
        #expect(Self.sent(chains.flush(results: [(Self.range, message)])).map(\.1) == [NodeID(2)])
        // Server 2 dies: server 3, the old tail and a full copy, is next; the replicate goes to it,
        // and it gets no copy of the range.
        let middle = chains.reconfigure([ReplicaChain(range: Self.range, nodes: [NodeID(1), NodeID(3)])], version: 2)
        #expect(Self.sent(middle.directives).map(\.1) == [NodeID(3)])
        #expect(middle.newSuccessors.isEmpty)
        // Server 3 dies too: this server is the tail, so the push counts as held by the chain.
        let tail = chains.reconfigure([ReplicaChain(range: Self.range, nodes: [NodeID(1)])], version: 3)
        #expect(Self.released(tail.directives) == [20])
    }

    @Test("a middle server dies while the tail still receives its copy from it: the head copies the range to the tail")
    func catchingUpTailIsCopiedAgain() {
        var chains = ChainReplication(me: NodeID(1))
        _ = chains.reconfigure(
            [ReplicaChain(range: Self.range, nodes: [NodeID(1), NodeID(2), NodeID(3)], catchingUp: 1)], version: 1)
        let middle = chains.reconfigure(
            [ReplicaChain(range: Self.range, nodes: [NodeID(1), NodeID(3)], catchingUp: 1)], version: 2)
        #expect(middle.newSuccessors.map(\.1) == [NodeID(3)])
    }

    @Test("while the next server receives its copy, replies wait for it, and the copy is complete only once it has every result sent meanwhile")
    func copyingSuccessorIsWaitedFor() {
        var chains = ChainReplication(me: NodeID(1))
        _ = chains.reconfigure([ReplicaChain(range: Self.range, nodes: [NodeID(1)])], version: 1)
        let joined = chains.reconfigure([ReplicaChain(range: Self.range, nodes: [NodeID(1), NodeID(4)])], version: 2)
        #expect(joined.newSuccessors.map(\.1) == [NodeID(4)])
        #expect(chains.beginCopy(Self.range, version: 2, parts: 1).isEmpty)
        #expect(chains.unacknowledgedCopyMessages(of: Self.range) == 0)
        let part = Message(header: Header(kind: .replicate, table: 0, keyCount: 0, valueLength: 1))
        #expect(Self.sent(chains.sendCopyPart(part, of: Self.range)).map(\.1) == [NodeID(4)])
        #expect(chains.unacknowledgedCopyMessages(of: Self.range) == 1)
        chains.hold(Self.reply(30))
        let flushed = chains.flush(results: [(Self.range, part)])
        #expect(Self.released(flushed) == [], "the copying server may be a full copy in the manager's count")
        #expect(Self.sent(flushed).map(\.1) == [NodeID(4)])
        #expect(chains.unacknowledgedCopyMessages(of: Self.range) == 2, "the result counts as part of the copy")
        // The copy part (id 1) alone does not complete the copy: the result (id 2) was sent after it.
        let afterPart = chains.acknowledged(1, by: NodeID(4))
        #expect(afterPart.isEmpty)
        #expect(chains.unacknowledgedCopyMessages(of: Self.range) == 1)
        let afterResult = chains.acknowledged(2, by: NodeID(4))
        #expect(chains.unacknowledgedCopyMessages(of: Self.range) == 0)
        #expect(Self.released(afterResult) == [30])
        #expect(afterResult.count == 2)
        if case .replicaReady(let range, let version)? = afterResult.last {
            #expect(range == Self.range && version == 2)
        } else {
            Issue.record("expected replicaReady, got \(afterResult)")
        }
        // From now on replies wait for it.
        chains.hold(Self.reply(31))
        #expect(Self.released(chains.flush(results: [(Self.range, part)])) == [])
        #expect(Self.released(chains.acknowledged(3, by: NodeID(4))) == [31])
    }

    /// A push sent again whose result the server holds already: its reply waits for what was
    /// forwarded before it, even in a flush that sends nothing.
    @Test("a reply behind what was sent waits for every earlier replicate to each successor, in a flush with no results")
    func replyBehindSentWaitsForEarlierReplicates() {
        var chains = ChainReplication(me: NodeID(1))
        let other = KeyRange(100, 200)
        _ = chains.reconfigure([
            ReplicaChain(range: Self.range, nodes: [NodeID(1), NodeID(2)]),
            ReplicaChain(range: other, nodes: [NodeID(1), NodeID(3)]),
        ], version: 1)
        let message = Message(header: Header(kind: .replicate, table: 0, keyCount: 0, valueLength: 1))
        chains.hold(Self.reply(40))
        #expect(Self.sent(chains.flush(results: [(Self.range, message), (other, message)])).count == 2)
        var behind = Self.reply(41)
        behind.behindSent = true
        chains.hold(behind)
        #expect(Self.released(chains.flush(results: [])) == [], "replicates to servers 2 and 3 are unacknowledged")
        #expect(Self.released(chains.acknowledged(1, by: NodeID(2))) == [])
        #expect(Self.released(chains.acknowledged(1, by: NodeID(3))) == [40, 41])
        // With nothing unacknowledged it goes at once.
        chains.hold(behind)
        #expect(Self.released(chains.flush(results: [])) == [41])
    }
}
