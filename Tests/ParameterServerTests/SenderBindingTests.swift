import Logging
import Testing
import ZeroMQ

@testable import ParameterServer

/// A sender id is bound to the connection it registered from: the manager records the connection's
/// routing id, servers learn it from their copy of the node table and refuse requests from any
/// other connection. Driven by hand, like ``RoleMachineTests``.
@Suite("Sender bound to its connection")
struct SenderBindingTests {
    typealias Machines = RoleMachineTests

    /// A server whose table lists worker node 2 as registered from `mem://worker-0`'s connection.
    static func boundServer() throws -> ServerCore {
        let server = ServerCore(
            settings: NodeSettings(
                role: .server, rank: 0, managerEndpoint: "mem://manager", bindEndpoint: "mem://server-0",
                tables: [Machines.table], deadlines: Machines.deadlines),
            outcome: NodeOutcome(), logger: Machines.logger)
        _ = server.handle(.started, context: Machines.at(.zero, on: "mem://server-0"))
        let nodeTable = NodeTable(version: 1, nodes: [
            NodeInfo(
                id: NodeID(1), role: .server, rank: 0, endpoint: "mem://server-0", ranges: [Machines.keySpace],
                routingID: Array("mem://server-0".utf8)),
            NodeInfo(id: NodeID(2), role: .worker, rank: 0, endpoint: "mem://worker-0", routingID: Array("mem://worker-0".utf8)),
        ])
        let tableMessage = MessageCodec.encode(Message(header: Header(
            kind: .nodeTable, sender: .manager, requestID: 1, nodeTable: nodeTable)))
        try Machines.expectFirstHeartbeat(
            server.handle(.received(tableMessage, from: Machines.manager), context: Machines.at(.milliseconds(1), on: "mem://server-0")))
        return server
    }

    static func pull(requestID: UInt64, keys: [UInt64]) -> [Frame] {
        MessageCodec.encode(Message(
            header: Header(
                kind: .pull, sender: NodeID(2), requestID: requestID, table: 0, timestamp: Int64(requestID),
                keyCount: UInt32(keys.count), valueLength: 2),
            keys: Frame(array: keys)))
    }

    @Test("a push with the worker's sender id and next request id from another connection gets wrongConnection and changes nothing; the worker's own push with that id is applied")
    func impostorPushRefused() throws {
        let server = try Self.boundServer()
        let worker = Machines.routed("mem://worker-0")
        let impostor = Machines.routed("mem://impostor")
        let context = Machines.at(.milliseconds(2), on: "mem://server-0")

        let refused = try Machines.sends(server.handle(
            .received(Machines.push(requestID: 1, keys: [3, 7], values: [100, 100, 100, 100]), from: impostor), context: context))
        #expect(refused.count == 1)
        let error = try #require(refused.first ?? nil)
        #expect(error.header.kind == .error)
        #expect(error.header.errorCode == .wrongConnection)
        #expect(error.header.requestID == 1)
        #expect(error.header.sender == NodeID(1))
        #expect(error.to == impostor)
        #expect(error.payload.isEmpty)
        #expect(server.senderBinding.refused == 1)
        // A pull from the impostor is refused the same way, and a retry of the refused push too.
        let refusedPull = try Machines.sends(server.handle(.received(Self.pull(requestID: 2, keys: [3]), from: impostor), context: context))
        #expect(refusedPull.map { $0?.header.errorCode } == [.wrongConnection])
        #expect(server.senderBinding.refused == 2)

        // The worker's own push 1 is applied (not answered from a cache the impostor filled), then its pull 2 reads it.
        let acknowledged = try Machines.sends(server.handle(
            .received(Machines.push(requestID: 1, keys: [3, 7], values: [1, 2, 3, 4]), from: worker), context: context))
        #expect(acknowledged.count == 1)
        #expect(acknowledged.first??.header == Header(
            kind: .pushAck, sender: NodeID(1), requestID: 1, table: 0, timestamp: 1, keyCount: 2, valueLength: 2))
        #expect(acknowledged.first??.to == worker)
        let answered = try Machines.sends(server.handle(.received(Self.pull(requestID: 2, keys: [3, 7]), from: worker), context: context))
        #expect(answered.count == 1)
        #expect(answered.first??.header.kind == .pullReply)
        #expect(answered.first??.payload == [Machines.bytes([1, 2, 3, 4] as [Float])])
        #expect(server.senderBinding.refused == 2)
    }

    @Test("a server takes a client in from a one-node change: the client's push from its own connection is applied, one from another is refused")
    func serverAppliesClientChange() throws {
        let server = try Self.boundServer()
        let context = Machines.at(.milliseconds(2), on: "mem://server-0")
        let client = NodeInfo(id: NodeID(3), role: .client, rank: 0, endpoint: "client", routingID: Array("client".utf8))
        let change = MessageCodec.encode(Message(header: Header(
            kind: .nodeTable, sender: .manager, requestID: 1, nodeTable: NodeTable(version: 2, nodes: [client], base: 1))))
        #expect(server.handle(.received(change, from: Machines.manager), context: context).isEmpty)
        #expect(server.tableVersion == 2)
        #expect(server.link.table?.nodes.map(\.id) == [NodeID(1), NodeID(2), NodeID(3)])
        #expect(server.knownSenders == [NodeID(1), NodeID(2), NodeID(3)])
        #expect(server.orderedSenders == [NodeID(2), NodeID(3)])
        func push(_ id: UInt64, _ values: [Float]) -> [Frame] {
            MessageCodec.encode(Message(
                header: Header(kind: .push, sender: NodeID(3), requestID: id, table: 0, timestamp: Int64(id), keyCount: 1, valueLength: 2),
                keys: Frame(array: [5] as [UInt64]), values: Frame(array: values)))
        }
        let refused = try Machines.sends(server.handle(.received(push(1, [9, 9]), from: Machines.routed("other")), context: context))
        #expect(refused.map { $0?.header.errorCode } == [.wrongConnection])
        let accepted = try Machines.sends(server.handle(.received(push(1, [1, 2]), from: Machines.routed("client")), context: context))
        #expect(accepted.map { $0?.header.kind } == [.pushAck])
        let pull = MessageCodec.encode(Message(
            header: Header(kind: .pull, sender: NodeID(3), requestID: 2, table: 0, timestamp: 2, keyCount: 1, valueLength: 2),
            keys: Frame(array: [5] as [UInt64])))
        let answered = try Machines.sends(server.handle(.received(pull, from: Machines.routed("client")), context: context))
        #expect(answered.first??.payload == [Machines.bytes([1, 2] as [Float])])
    }

    @Test("under CURVE a request from the registered routing id but another public key is refused")
    func publicKeyBound() throws {
        let registered = try #require(CurveKey(bytes: [UInt8](repeating: 7, count: 32)))
        let other = try #require(CurveKey(bytes: [UInt8](repeating: 9, count: 32)))
        var binding = SenderBinding()
        binding.update(NodeTable(version: 1, nodes: [
            NodeInfo(id: NodeID(4), role: .client, rank: 0, endpoint: "c", routingID: [0x81, 1], publicKey: registered)
        ]))
        #expect(binding.violation(sender: NodeID(4), peer: .routed([0x81, 1]), publicKey: registered) == nil)
        #expect(binding.violation(sender: NodeID(4), peer: .routed([0x81, 1]), publicKey: other)?.code == .wrongConnection)
        #expect(binding.violation(sender: NodeID(4), peer: .routed([0x81, 1]), publicKey: nil)?.code == .wrongConnection)
        #expect(binding.violation(sender: NodeID(4), peer: .routed([0x81, 2]), publicKey: registered)?.code == .wrongConnection)
        // A member the table records no connection for is not checked.
        #expect(binding.violation(sender: NodeID(5), peer: .routed([0x81, 2]), publicKey: nil) == nil)
        #expect(SenderBinding.checks(.push) && SenderBinding.checks(.pull) && SenderBinding.checks(.rangeFunction))
        #expect(SenderBinding.checks(.replicate) && !SenderBinding.checks(.heartbeat))
        var counted = SenderBinding()
        let logged = (1...9).filter { _ in counted.countRefusal() }
        #expect(logged == [1, 2, 4, 8])
    }

    /// A manager for 1 server and 1 worker whose job is running.
    static func runningManager() throws -> ManagerCore {
        let settings = ManagerSettings(
            bindEndpoint: "mem://manager", servers: 1, workers: 1, keySpace: Machines.keySpace, deadlines: Machines.deadlines)
        let manager = ManagerCore(settings: settings, logger: Machines.logger) { _ in }
        _ = manager.handle(.started, context: Machines.at(.zero, on: "mem://manager"))
        for (role, endpoint) in [(NodeRole.server, "mem://server-0"), (.worker, "mem://worker-0")] {
            let register = MessageCodec.encode(Message(header: Header(kind: .register, requestID: 1, role: role, rank: 0, endpoint: endpoint)))
            _ = manager.handle(.received(register, from: Machines.routed(endpoint)), context: Machines.at(.zero, on: "mem://manager"))
        }
        #expect(manager.table.version == 2)
        return manager
    }

    static func registerClient(_ manager: ManagerCore, _ name: String, from peer: PeerAddress) throws -> [(header: Header, payload: [[UInt8]], to: PeerAddress, onFailure: SendFailurePolicy)] {
        let register = MessageCodec.encode(Message(header: Header(kind: .register, requestID: 7, role: .client, rank: 0, endpoint: name)))
        return try Machines.sends(manager.handle(.received(register, from: peer), context: Machines.at(.seconds(1), on: "mem://manager")))
            .map { try #require($0) }
    }

    @Test("the manager refuses a registration whose routing id libzmq made up, and one that claims a registered node from another connection")
    func managerRefusesUnboundRegistration() throws {
        let manager = try Self.runningManager()
        let anonymous = PeerAddress.routed([0, 0, 0, 0, 1])
        let refused = try Self.registerClient(manager, "anonymous", from: anonymous)
        #expect(refused.count == 1)
        #expect(refused.first?.header.kind == .error)
        #expect(refused.first?.header.errorCode == .invalidRequest)
        #expect(refused.first?.to == anonymous)
        #expect(manager.table.version == 2)

        let hijack = MessageCodec.encode(Message(header: Header(kind: .register, requestID: 1, role: .worker, rank: 0, endpoint: "mem://worker-0")))
        let stranger = Machines.routed("mem://stranger")
        let answer = try Machines.sends(manager.handle(.received(hijack, from: stranger), context: Machines.at(.seconds(1), on: "mem://manager")))
        #expect(answer.map { $0?.header.errorCode } == [.invalidRequest])
        #expect(manager.members[NodeID(2)]?.peer == Machines.routed("mem://worker-0"))
    }

    @Test("a client's registration goes to the server as a one-node change with its routing id, to the worker without it, to other clients not at all; the client gets the servers, workers and itself")
    func clientRegistrationIsAChange() throws {
        let manager = try Self.runningManager()
        let first = try Self.registerClient(manager, "client-a", from: Machines.routed("client-a"))
        #expect(first.map(\.to) == [Machines.routed("mem://server-0"), Machines.routed("mem://worker-0"), Machines.routed("client-a")])
        let serverChange = try #require(first[0].header.nodeTable)
        let clientInfo = NodeInfo(id: NodeID(3), role: .client, rank: 0, endpoint: "client-a", routingID: Array("client-a".utf8))
        #expect(serverChange == NodeTable(version: 3, nodes: [clientInfo], base: 2))
        #expect(first[1].header.nodeTable == NodeTable(version: 3, nodes: [clientInfo.withoutConnection], base: 2))
        let clientTable = try #require(first[2].header.nodeTable)
        #expect(clientTable.base == nil)
        #expect(clientTable.version == 3)
        #expect(clientTable.nodes.map(\.id) == [NodeID(1), NodeID(2), NodeID(3)])
        #expect(clientTable.nodes.allSatisfy { $0.routingID == nil && $0.publicKey == nil })
        #expect(first[2].header.requestID == 7)

        let second = try Self.registerClient(manager, "client-b", from: Machines.routed("client-b"))
        #expect(second.map(\.to) == [Machines.routed("mem://server-0"), Machines.routed("mem://worker-0"), Machines.routed("client-b")])
        #expect(second[0].header.nodeTable?.base == 3)
        #expect(second[0].header.nodeTable?.nodes.map(\.id) == [NodeID(4)])
        #expect(second[2].header.nodeTable?.nodes.map(\.id) == [NodeID(1), NodeID(2), NodeID(4)])
        // What the server holds after applying both changes is the manager's table.
        var held = NodeTable(version: 2, nodes: manager.table.nodes.filter { $0.role != .client })
        #expect(held.apply(try #require(first[0].header.nodeTable)))
        #expect(!held.apply(try #require(first[0].header.nodeTable)))
        #expect(held.apply(try #require(second[0].header.nodeTable)))
        #expect(held == manager.table)
        #expect(manager.tableTraffic.changes == 4)
        #expect(manager.tableTraffic.tables == 2 + 2)
    }

    @Test("a node table with changes, routing ids and public keys survives encoding; bad ones are refused naming the field")
    func tableFieldsRoundTrip() throws {
        let key = try #require(CurveKey(bytes: (0..<32).map { UInt8($0) }))
        let table = NodeTable(version: 9, nodes: [
            NodeInfo(id: NodeID(5), role: .client, rank: 0, endpoint: "c", routingID: [0x80, 0, 1], publicKey: key)
        ], base: 8)
        let frames = MessageCodec.encode(Message(header: Header(kind: .nodeTable, sender: .manager, requestID: 1, nodeTable: table)))
        #expect(try MessageCodec.decode(frames).header.nodeTable == table)

        let backwards = NodeTable(version: 9, nodes: [], base: 9)
        let refused = MessageCodec.encode(Message(header: Header(kind: .nodeTable, sender: .manager, requestID: 1, nodeTable: backwards)))
        #expect(throws: WireError.self) { try MessageCodec.decode(refused) }
        do {
            _ = try MessageCodec.decode(refused)
        } catch {
            #expect(error.field == "nt.base")
        }
        let zeroFirst = NodeTable(version: 1, nodes: [NodeInfo(id: NodeID(5), role: .client, rank: 0, endpoint: "c", routingID: [0, 1])])
        do {
            _ = try MessageCodec.decode(MessageCodec.encode(Message(header: Header(kind: .nodeTable, nodeTable: zeroFirst))))
            Issue.record("a routing id starting with a zero byte was accepted")
        } catch {
            #expect(error.code == .malformedHeader)
            #expect(error.field == "nt.nodes[0].rid")
        }
    }
}
