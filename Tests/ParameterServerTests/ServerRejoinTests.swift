import Logging
import Testing
import ZeroMQ

@testable import ParameterServer

/// A joining server whose join was abandoned, driven by hand with no network (as
/// ``RoleMachineTests``): a table that does not list it neither stops nor fails it, it drops what
/// it received for the abandoned join, and a later table that lists it again — here under another
/// id — makes it a joiner afresh.
@Suite("A joining server whose join was abandoned")
struct ServerRejoinTests {
    static let range = KeyRange(0, 100)
    static let server0 = NodeInfo(id: NodeID(1), role: .server, rank: 0, endpoint: "mem://server-0", ranges: [range])
    static let worker = NodeInfo(id: NodeID(2), role: .worker, rank: 0, endpoint: "mem://worker-0")
    static let server1 = NodeInfo(id: NodeID(6), role: .server, rank: 1, endpoint: "mem://server-1")

    static func joiner(_ id: UInt32) -> NodeInfo {
        NodeInfo(id: NodeID(id), role: .server, rank: 3, endpoint: "mem://server-3")
    }

    static func table(_ version: UInt64, _ nodes: [NodeInfo], chain: [UInt32]) -> [Frame] {
        let table = NodeTable(
            version: version, nodes: nodes, chains: [ReplicaChain(range: range, nodes: chain.map { NodeID($0) }, catchingUp: 1)])
        return MessageCodec.encode(Message(header: Header(kind: .nodeTable, sender: .manager, requestID: 1, nodeTable: table)))
    }

    /// A copy part of key 3 (both values `value`) from `sender`, made under node table `version`.
    static func replicate(from sender: UInt32, requestID: UInt64, version: UInt64, value: Float) -> [Frame] {
        var header = Header(kind: .replicate, sender: NodeID(sender), requestID: requestID, table: 0, keyCount: 1, valueLength: 2)
        header.tableVersion = version
        header.timestamp = 1
        return MessageCodec.encode(Message(header: header, keys: Frame(array: [3] as [UInt64]), values: Frame(array: [value, value])))
    }

    /// The replica's entries of key 3, `nil` when it holds no replica of the segment.
    static func key3(_ server: ServerCore) -> [Float]? {
        guard let stored = server.storedEntries(table: 0, range: range, replica: true),
            let index = stored.keys.firstIndex(of: 3)
        else { return nil }
        return Array(stored.entries[(2 * index)..<(2 * index + 2)])
    }

    @Test("left out of a table it waits and drops its copies; listed again under a new id it takes it and drops what the old join sent")
    func joinerWaitsAndJoinsAgain() throws {
        let outcome = NodeOutcome()
        let server = ServerCore(
            settings: NodeSettings(
                role: .server, rank: 3, managerEndpoint: "mem://manager", bindEndpoint: "mem://server-3",
                tables: [RoleMachineTests.table], deadlines: RoleMachineTests.deadlines),
            outcome: outcome, logger: RoleMachineTests.logger)
        func at(_ milliseconds: Int) -> NodeContext { RoleMachineTests.at(.milliseconds(milliseconds), on: "mem://server-3") }
        let manager = RoleMachineTests.manager
        let source = PeerAddress.routed(Array("mem://server-0".utf8))
        #expect(server.handle(.started, context: at(0)).count == 1)

        // The catch-up table: it joins as node 5 at the tail of the chain and receives a copy.
        try RoleMachineTests.expectFirstHeartbeat(
            server.handle(.received(Self.table(10, [Self.server0, Self.worker, Self.joiner(5)], chain: [1, 5]), from: manager), context: at(1)))
        #expect(server.link.nodeID == NodeID(5))
        #expect(server.heldRanges(table: 0).replicas == [Self.range])
        // The manager answers its first heartbeat: its lease starts, and it serves.
        let answer = MessageCodec.encode(Message(header: Header(kind: .heartbeat, sender: .manager, requestID: 1)))
        #expect(server.handle(.received(answer, from: manager), context: at(2)).isEmpty)
        let acknowledged = try RoleMachineTests.sends(
            server.handle(.received(Self.replicate(from: 1, requestID: 1, version: 10, value: 4), from: source), context: at(2)))
        #expect(acknowledged.map { $0?.header } == [Header(kind: .replicateAck, sender: NodeID(5), requestID: 1)])
        #expect(Self.key3(server) == [4, 4])

        // server-0 gave up on the join (another server died): the table no longer lists it.
        let left = server.handle(.received(Self.table(12, [Self.server0, Self.worker, Self.server1], chain: [1, 6]), from: manager), context: at(3))
        #expect(left.isEmpty, "\(left)")
        #expect(outcome.failure == nil && outcome.jobFailure == nil)
        #expect(server.heldRanges(table: 0) == ([], []))
        #expect(server.listedSince == nil)
        // What the abandoned join still sends it is dropped; a worker's request is refused.
        #expect(server.handle(.received(Self.replicate(from: 1, requestID: 2, version: 10, value: 5), from: source), context: at(4)).isEmpty)
        var push = Header(kind: .push, sender: NodeID(2), requestID: 1, table: 0, timestamp: 1, keyCount: 1, valueLength: 2)
        push.tableVersion = 11
        let pushFrames = MessageCodec.encode(Message(header: push, keys: Frame(array: [3] as [UInt64]), values: Frame(array: [1, 1] as [Float])))
        let refused = try RoleMachineTests.sends(server.handle(.received(pushFrames, from: RoleMachineTests.routed("mem://worker-0")), context: at(5)))
        #expect(refused.map { $0?.header.errorCode } == [.staleTable])
        // It keeps sending heartbeats under the id it had, which the manager answers while it waits.
        let heartbeats = try RoleMachineTests.sends(server.handle(.tick, context: at(600)))
        #expect(heartbeats.map { $0?.header.kind } == [.heartbeat])
        #expect(heartbeats.first??.header.sender == NodeID(5))

        // Its join planned again, under a new id: it takes the id and receives the segment afresh.
        let relisted = server.handle(
            .received(Self.table(14, [Self.server0, Self.worker, Self.server1, Self.joiner(7)], chain: [1, 6, 7]), from: manager),
            context: at(601))
        #expect(relisted.isEmpty, "\(relisted)")
        #expect(server.link.nodeID == NodeID(7))
        #expect(server.replication.me == NodeID(7))
        #expect(server.listedSince == 14)
        #expect(server.heldRanges(table: 0).replicas == [Self.range])
        #expect(Self.key3(server) == [0, 0])
        let predecessor = PeerAddress.routed(Array("mem://server-1".utf8))
        // A replicate made under a table from before the one that lists it again belongs to the
        // abandoned join and is dropped; one made under this table is written and acknowledged.
        #expect(server.handle(.received(Self.replicate(from: 6, requestID: 1, version: 12, value: 6), from: predecessor), context: at(602)).isEmpty)
        #expect(Self.key3(server) == [0, 0])
        let written = try RoleMachineTests.sends(
            server.handle(.received(Self.replicate(from: 6, requestID: 2, version: 14, value: 7), from: predecessor), context: at(603)))
        #expect(written.map { $0?.header } == [Header(kind: .replicateAck, sender: NodeID(7), requestID: 2)])
        #expect(Self.key3(server) == [7, 7])
        #expect(outcome.failure == nil && outcome.jobFailure == nil)
    }

    @Test("a primary left out of a node table stops: only a joiner, which heads nothing, waits to join again")
    func primaryLeftOutStops() throws {
        let outcome = NodeOutcome()
        let server = try RoleMachineTests.registeredServer(outcome: outcome)
        let table = NodeTable(version: 2, nodes: [NodeInfo(id: NodeID(2), role: .worker, rank: 0, endpoint: "mem://worker-0")])
        let message = MessageCodec.encode(Message(header: Header(kind: .nodeTable, sender: .manager, requestID: 1, nodeTable: table)))
        let directives = server.handle(.received(message, from: RoleMachineTests.manager), context: RoleMachineTests.at(.milliseconds(2), on: "mem://server-0"))
        guard case .stop? = directives.last else {
            Issue.record("expected a stop, got \(directives)")
            return
        }
        #expect(outcome.failure == "the manager's node table version 2 does not list server-0, the primary of [0, 100): it was taken out")
    }
}
