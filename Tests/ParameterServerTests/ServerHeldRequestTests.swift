import Logging
import Testing
import ZeroMQ

@testable import ParameterServer

/// A server holds a bounded number and size of requests it cannot serve yet, per sender of its
/// node table and for unknown senders together; beyond that it answers `busy`, counts the refusal,
/// and its other senders are served as before.
@Suite("Requests a server holds")
struct ServerHeldRequestTests {
    typealias Machines = RoleMachineTests
    static let worker = Machines.routed("mem://worker-0")

    /// A server registered as node 1 beside worker node 2 (table version 1), with `limits`.
    static func server(limits: PeerLimits, table spec: TableSpec = Machines.table) throws -> ServerCore {
        var settings = NodeSettings(
            role: .server, rank: 0, managerEndpoint: "mem://manager", bindEndpoint: "mem://server-0",
            tables: [spec], deadlines: Machines.deadlines)
        settings.peerLimits = limits
        let server = ServerCore(settings: settings, outcome: NodeOutcome(), logger: Machines.logger)
        _ = server.handle(.started, context: Machines.at(.zero, on: "mem://server-0"))
        try Machines.expectFirstHeartbeat(server.handle(.received(table(version: 1), from: Machines.manager), context: at(.milliseconds(1))))
        return server
    }

    static func table(version: UInt64) -> [Frame] {
        let nodeTable = NodeTable(version: version, nodes: [
            NodeInfo(id: NodeID(1), role: .server, rank: 0, endpoint: "mem://server-0", ranges: [Machines.keySpace]),
            NodeInfo(id: NodeID(2), role: .worker, rank: 0, endpoint: "mem://worker-0"),
        ])
        return MessageCodec.encode(Message(header: Header(kind: .nodeTable, sender: .manager, requestID: version, nodeTable: nodeTable)))
    }

    static func at(_ offset: Duration) -> NodeContext { Machines.at(offset, on: "mem://server-0") }

    /// A push of two keys (32 payload bytes: 16 of keys, 16 of values) from `sender`.
    static func push(from sender: UInt32, requestID: UInt64, tableVersion: UInt64? = nil, value: Float = 1) -> [Frame] {
        var header = Header(
            kind: .push, sender: NodeID(sender), requestID: requestID, table: 0, timestamp: Int64(requestID),
            keyCount: 2, valueLength: 2)
        header.tableVersion = tableVersion
        return MessageCodec.encode(Message(
            header: header, keys: Frame(array: [3, 7] as [UInt64]), values: Frame(array: [value, value, value, value])))
    }

    /// The kind, request id and error code of every reply, in order.
    static func replies(_ directives: [NodeDirective]) throws -> [String] {
        try Machines.sends(directives).map { sent in
            guard let sent else { return "stop" }
            let code = sent.header.errorCode.map { " \($0.name)" } ?? ""
            return "\(sent.header.kind) \(sent.header.requestID)\(code)"
        }
    }

    @Test("requests of unknown senders are held up to the count limit; more get busy; the worker is served; the held ones expire as notRegistered")
    func unknownSendersByCount() throws {
        let server = try Self.server(limits: PeerLimits(unknownSenderRequests: 3))
        var answered: [String] = []
        for sender in UInt32(10)..<15 {
            answered += try Self.replies(server.handle(
                .received(Self.push(from: sender, requestID: 1), from: Machines.routed("intruder-\(sender)")), context: Self.at(.milliseconds(2))))
        }
        #expect(answered == ["error 1 busy", "error 1 busy"])
        #expect(server.heldRequests.refused == 2)
        #expect(server.heldRequests.held(in: .unknownSenders) == .init(requests: 3, bytes: 96))
        // The worker of the node table is served as before.
        #expect(try Self.replies(server.handle(.received(Self.push(from: 2, requestID: 1), from: Self.worker), context: Self.at(.milliseconds(3))))
            == ["pushAck 1"])
        // After the heartbeat timeout (3 s) the held requests are refused, and nothing is held.
        let expired = try Self.replies(server.handle(.tick, context: Self.at(.seconds(4))))
        #expect(expired.filter { $0.hasPrefix("error 1 notRegistered") }.count == 3)
        #expect(server.heldRequests.held(in: .unknownSenders) == .init())
        // Room again: the next unknown sender's request is held, not refused.
        #expect(try Self.replies(server.handle(
            .received(Self.push(from: 20, requestID: 1), from: Machines.routed("late")), context: Self.at(.seconds(5)))).isEmpty)
        #expect(server.heldRequests.refused == 2)
    }

    @Test("a request of a sender the table does not list yet, refused busy, uses up its id once a table lists the sender from that connection; an impostor's refusal does not")
    func unlistedRefusalUsesUpTheIDOnceListed() throws {
        let server = try Self.server(limits: PeerLimits(unknownSenderRequests: 1))
        let client = Machines.routed("client")
        // An unknown sender fills the pool; the client's first push, and an impostor's push in the
        // client's name, are refused.
        #expect(try Self.replies(server.handle(
            .received(Self.push(from: 10, requestID: 1), from: Machines.routed("intruder")), context: Self.at(.milliseconds(2)))).isEmpty)
        #expect(try Self.replies(server.handle(.received(Self.push(from: 3, requestID: 1), from: client), context: Self.at(.milliseconds(3))))
            == ["error 1 busy"])
        #expect(try Self.replies(server.handle(
            .received(Self.push(from: 3, requestID: 2), from: Machines.routed("impostor")), context: Self.at(.milliseconds(4))))
            == ["error 2 busy"])
        // Refusals are kept up to the unknown senders' request limit, the oldest out first.
        #expect(server.unlistedRefusals.refusals.map(\.requestID) == [2])
        // With room to keep both (and to hold two unknown senders' pushes):
        let roomy = try Self.server(limits: PeerLimits(unknownSenderRequests: 2))
        #expect(try Self.replies(roomy.handle(
            .received(Self.push(from: 10, requestID: 1), from: Machines.routed("intruder")), context: Self.at(.milliseconds(2)))).isEmpty)
        #expect(try Self.replies(roomy.handle(
            .received(Self.push(from: 11, requestID: 1), from: Machines.routed("intruder-2")), context: Self.at(.milliseconds(2)))).isEmpty)
        #expect(try Self.replies(roomy.handle(.received(Self.push(from: 3, requestID: 1), from: client), context: Self.at(.milliseconds(3))))
            == ["error 1 busy"])
        #expect(try Self.replies(roomy.handle(
            .received(Self.push(from: 3, requestID: 2), from: Machines.routed("impostor")), context: Self.at(.milliseconds(4))))
            == ["error 2 busy"])
        #expect(roomy.unlistedRefusals.refusals.map(\.requestID) == [1, 2])
        // A table lists the client, registered from its connection.
        let nodeTable = NodeTable(version: 2, nodes: [
            NodeInfo(id: NodeID(1), role: .server, rank: 0, endpoint: "mem://server-0", ranges: [Machines.keySpace]),
            NodeInfo(id: NodeID(2), role: .worker, rank: 0, endpoint: "mem://worker-0"),
            NodeInfo(id: NodeID(3), role: .client, rank: 0, endpoint: "client", routingID: Array("client".utf8)),
        ])
        let table = MessageCodec.encode(Message(header: Header(kind: .nodeTable, sender: .manager, requestID: 2, nodeTable: nodeTable)))
        #expect(try Self.replies(roomy.handle(.received(table, from: Machines.manager), context: Self.at(.milliseconds(5)))).isEmpty)
        #expect(roomy.unlistedRefusals.refusals.isEmpty)
        #expect(roomy.deduplicator.nextExpected(from: NodeID(3)) == 2)
        // The client's next push is served at once (the impostor's refusal used up nothing); its
        // refused push sent again gets the same refusal.
        #expect(try Self.replies(roomy.handle(.received(Self.push(from: 3, requestID: 2), from: client), context: Self.at(.milliseconds(6))))
            == ["pushAck 2"])
        #expect(try Self.replies(roomy.handle(.received(Self.push(from: 3, requestID: 1), from: client), context: Self.at(.milliseconds(7))))
            == ["error 1 busy"])
        // Only push 2 was applied.
        let pull = MessageCodec.encode(Message(
            header: Header(kind: .pull, sender: NodeID(3), requestID: 3, table: 0, timestamp: 3, keyCount: 2, valueLength: 2),
            keys: Frame(array: [3, 7] as [UInt64])))
        let pulled = try Machines.sends(roomy.handle(.received(pull, from: client), context: Self.at(.milliseconds(8))))
        #expect(pulled.count == 1)
        #expect(pulled.first??.payload == [Machines.bytes([1, 1, 1, 1] as [Float])])
    }

    @Test("requests of unknown senders are held up to the byte limit (one always fits); more get busy")
    func unknownSendersByBytes() throws {
        let server = try Self.server(limits: PeerLimits(unknownSenderBytes: 40))
        var answered: [String] = []
        for sender in UInt32(10)..<13 {
            answered += try Self.replies(server.handle(
                .received(Self.push(from: sender, requestID: 7), from: Machines.routed("intruder")), context: Self.at(.milliseconds(2))))
        }
        #expect(answered == ["error 7 busy", "error 7 busy"])
        #expect(server.heldRequests.held(in: .unknownSenders) == .init(requests: 1, bytes: 32))
    }

    @Test("a sender's requests routed by a newer node table are held up to its limit; the next gets busy and uses up its id; the table serves the held ones")
    func awaitingTablePerSender() throws {
        let server = try Self.server(limits: PeerLimits(heldRequestsPerSender: 2))
        var answered: [String] = []
        for id in UInt64(1)...3 {
            answered += try Self.replies(server.handle(
                .received(Self.push(from: 2, requestID: id, tableVersion: 2), from: Self.worker), context: Self.at(.milliseconds(2))))
        }
        #expect(answered == ["error 3 busy"])
        #expect(server.heldRequests.held(in: .sender(NodeID(2))) == .init(requests: 2, bytes: 64))
        let served = try Self.replies(server.handle(.received(Self.table(version: 2), from: Machines.manager), context: Self.at(.milliseconds(3))))
        #expect(served == ["pushAck 1", "pushAck 2"])
        #expect(server.heldRequests.held(in: .sender(NodeID(2))) == .init())
        // The refusal used up id 3: sent again it gets busy again, and the next id is served.
        #expect(try Self.replies(server.handle(
            .received(Self.push(from: 2, requestID: 3, tableVersion: 2), from: Self.worker), context: Self.at(.milliseconds(4))))
            == ["error 3 busy"])
        #expect(try Self.replies(server.handle(
            .received(Self.push(from: 2, requestID: 4, tableVersion: 2), from: Self.worker), context: Self.at(.milliseconds(5))))
            == ["pushAck 4"])
        // Pushes 1, 2 and 4 applied once each.
        #expect(try Self.pulled(from: server, requestID: 5, at: .milliseconds(6)) == Machines.bytes([3, 3, 3, 3] as [Float]))
    }

    @Test("a sender's requests ahead of its order are held up to its byte limit; the next gets busy at once and uses up its id: the later ones do not wait for it, and a copy of it gets the same busy")
    func aheadOfOrderPerSender() throws {
        let server = try Self.server(limits: PeerLimits(heldBytesPerSender: 40))
        #expect(try Self.replies(server.handle(
            .received(Self.push(from: 2, requestID: 2), from: Self.worker), context: Self.at(.milliseconds(2)))).isEmpty)
        let refused = try Machines.sends(server.handle(
            .received(Self.push(from: 2, requestID: 3), from: Self.worker), context: Self.at(.milliseconds(2))))
        #expect(refused.map { $0.map { "\($0.header.kind) \($0.header.requestID) \($0.header.errorCode?.name ?? "")" } } == ["error 3 busy"])
        #expect(server.heldRequests.held(in: .sender(NodeID(2))) == .init(requests: 1, bytes: 32))
        #expect(server.deduplicator.refusedCount(from: NodeID(2)) == 1)
        // Request 1 lets 2 through, and the sequence passes the refused 3.
        #expect(try Self.replies(server.handle(.received(Self.push(from: 2, requestID: 1), from: Self.worker), context: Self.at(.milliseconds(3))))
            == ["pushAck 1", "pushAck 2"])
        #expect(server.heldRequests.held(in: .sender(NodeID(2))) == .init())
        #expect(server.deduplicator.nextExpected(from: NodeID(2)) == 4)
        #expect(server.deduplicator.refusedCount(from: NodeID(2)) == 0)
        // The next request is served at once; request 3 sent again gets its error again and is not applied.
        #expect(try Self.replies(server.handle(.received(Self.push(from: 2, requestID: 4), from: Self.worker), context: Self.at(.milliseconds(4))))
            == ["pushAck 4"])
        let again = try Machines.sends(server.handle(
            .received(Self.push(from: 2, requestID: 3), from: Self.worker), context: Self.at(.milliseconds(5))))
        // The same reply as the refusal, message and all.
        #expect(again.count == 1)
        #expect(again.first??.header == refused.first??.header)
        // Pushes 1, 2 and 4 applied once each: 3 per value.
        #expect(try Self.pulled(from: server, requestID: 5, at: .milliseconds(6)) == Machines.bytes([3, 3, 3, 3] as [Float]))
    }

    @Test("a request ahead of its sender's order that does not decode is answered at once and uses up its id")
    func undecodableAheadOfOrder() throws {
        let server = try Self.server(limits: PeerLimits())
        // Request 2 lists its keys in descending order.
        let unsorted = MessageCodec.encode(Message(
            header: Header(kind: .push, sender: NodeID(2), requestID: 2, table: 0, timestamp: 2, keyCount: 2, valueLength: 2),
            keys: Frame(array: [7, 3] as [UInt64]), values: Frame(array: [1, 1, 1, 1] as [Float])))
        #expect(try Self.replies(server.handle(.received(unsorted, from: Self.worker), context: Self.at(.milliseconds(2))))
            == ["error 2 unsortedKeys"])
        #expect(try Self.replies(server.handle(.received(Self.push(from: 2, requestID: 1), from: Self.worker), context: Self.at(.milliseconds(3))))
            == ["pushAck 1"])
        #expect(try Self.replies(server.handle(.received(Self.push(from: 2, requestID: 3), from: Self.worker), context: Self.at(.milliseconds(4))))
            == ["pushAck 3"])
        #expect(try Self.replies(server.handle(.received(unsorted, from: Self.worker), context: Self.at(.milliseconds(5))))
            == ["error 2 unsortedKeys"])
        #expect(try Self.pulled(from: server, requestID: 4, at: .milliseconds(6)) == Machines.bytes([2, 2, 2, 2] as [Float]))
    }

    @Test("with 1,024 requests ahead of its sender's order held, the next is refused tooLarge and uses up its id")
    func fullOrderBufferUsesUpTheID() throws {
        // Room in the held-request pool for more than the deduplicator's 1,024.
        let server = try Self.server(limits: PeerLimits(heldRequestsPerSender: 2000))
        for id in UInt64(2)...1025 {
            #expect(try Self.replies(server.handle(
                .received(Self.push(from: 2, requestID: id), from: Self.worker), context: Self.at(.milliseconds(2)))).isEmpty)
        }
        #expect(try Self.replies(server.handle(
            .received(Self.push(from: 2, requestID: 1026), from: Self.worker), context: Self.at(.milliseconds(3))))
            == ["error 1026 tooLarge"])
        let served = try Self.replies(server.handle(
            .received(Self.push(from: 2, requestID: 1), from: Self.worker), context: Self.at(.milliseconds(4))))
        #expect(served == (UInt64(1)...1025).map { "pushAck \($0)" })
        #expect(try Self.replies(server.handle(
            .received(Self.push(from: 2, requestID: 1027), from: Self.worker), context: Self.at(.milliseconds(5))))
            == ["pushAck 1027"])
        #expect(try Self.replies(server.handle(
            .received(Self.push(from: 2, requestID: 1026), from: Self.worker), context: Self.at(.milliseconds(6))))
            == ["error 1026 tooLarge"])
        #expect(try Self.pulled(from: server, requestID: 1028, at: .milliseconds(7)) == Machines.bytes([Float](repeating: 1026, count: 4)))
    }

    /// The values of keys 3 and 7 that a pull from worker 2 with `requestID` reads, as the bytes
    /// of the reply's values frame (`nil` unless the only reply is a pull reply).
    static func pulled(from server: ServerCore, requestID: UInt64, at offset: Duration) throws -> [UInt8]? {
        let pull = MessageCodec.encode(Message(
            header: Header(kind: .pull, sender: NodeID(2), requestID: requestID, table: 0, timestamp: Int64(requestID), keyCount: 2, valueLength: 2),
            keys: Frame(array: [3, 7] as [UInt64])))
        let sent = try Machines.sends(server.handle(.received(pull, from: Self.worker), context: Self.at(offset)))
        guard sent.count == 1, let reply = sent[0], reply.header.kind == .pullReply else { return nil }
        return reply.payload.first
    }

    @Test("pulls of a bsp table for an iteration not applied yet are held up to the sender's limit; the next gets busy; the iteration's push answers the held one")
    func bspPullsPerSender() throws {
        let spec = TableSpec(name: "weights", id: 0, valueLength: 2, consistency: .bsp)
        let server = try Self.server(limits: PeerLimits(heldRequestsPerSender: 1), table: spec)
        func pull(_ requestID: UInt64, iteration: Int64) -> [Frame] {
            var header = Header(kind: .pull, sender: NodeID(2), requestID: requestID, table: 0, timestamp: Int64(requestID), keyCount: 2, valueLength: 2)
            header.iteration = iteration
            return MessageCodec.encode(Message(header: header, keys: Frame(array: [3, 7] as [UInt64])))
        }
        #expect(try Self.replies(server.handle(.received(pull(1, iteration: 0), from: Self.worker), context: Self.at(.milliseconds(2)))).isEmpty)
        #expect(server.heldRequests.held(in: .sender(NodeID(2))) == .init(requests: 1, bytes: 16))
        #expect(try Self.replies(server.handle(.received(pull(2, iteration: 0), from: Self.worker), context: Self.at(.milliseconds(3))))
            == ["error 2 busy"])
        // The only worker pushes iteration 0: the sum is applied, the push acknowledged, the held pull answered.
        var push = Self.push(from: 2, requestID: 3)
        var header = try HeaderCodec.decode(push[0])
        header.iteration = 0
        push[0] = HeaderCodec.encode(header)
        #expect(try Self.replies(server.handle(.received(push, from: Self.worker), context: Self.at(.milliseconds(4))))
            == ["pushAck 3", "pullReply 1"])
        #expect(server.heldRequests.held(in: .sender(NodeID(2))) == .init())
    }

    @Test("pushes of a bsp table waiting for their iteration are held up to the sender's limit; the next gets busy; the push that completes the iteration needs no room and releases them")
    func bspPushesPerSender() throws {
        let spec = TableSpec(name: "weights", id: 0, valueLength: 2, consistency: .bsp)
        let server = try Self.server(limits: PeerLimits(heldRequestsPerSender: 2), table: spec)
        func push(_ requestID: UInt64, iteration: Int64) throws -> [Frame] {
            var frames = Self.push(from: 2, requestID: requestID)
            var header = try HeaderCodec.decode(frames[0])
            header.iteration = iteration
            frames[0] = HeaderCodec.encode(header)
            return frames
        }
        // Iterations 1 and 2 wait for iteration 0: held, up to the limit; iteration 3 gets busy.
        for (id, iteration) in [(1, 1), (2, 2)] as [(UInt64, Int64)] {
            #expect(try Self.replies(server.handle(.received(push(id, iteration: iteration), from: Self.worker), context: Self.at(.milliseconds(2)))).isEmpty)
        }
        #expect(server.heldRequests.held(in: .sender(NodeID(2))) == .init(requests: 2, bytes: 64))
        #expect(try Self.replies(server.handle(.received(push(3, iteration: 3), from: Self.worker), context: Self.at(.milliseconds(3))))
            == ["error 3 busy"])
        // Iteration 0 completes at once, so it needs no room: it applies 0, 1 and 2, and every held
        // push is acknowledged and released.
        #expect(try Self.replies(server.handle(.received(push(4, iteration: 0), from: Self.worker), context: Self.at(.milliseconds(4))))
            == ["pushAck 1", "pushAck 2", "pushAck 4"])
        #expect(server.heldRequests.held(in: .sender(NodeID(2))) == .init())
    }

    @Test("the budget counts and releases exactly, refuses at each limit, and always admits one request into an empty pool")
    func budgetArithmetic() {
        var budget = HeldRequestBudget(limits: PeerLimits(heldRequestsPerSender: 2, heldBytesPerSender: 100))
        let pool = HeldRequestBudget.Pool.sender(NodeID(5))
        #expect(budget.hold(pool, bytes: 500) == nil)  // larger than the limit, but the pool is empty
        #expect(budget.hold(pool, bytes: 1)?.code == .busy)
        budget.release(pool, bytes: 500)
        #expect(budget.held(in: pool) == .init())
        #expect(budget.hold(pool, bytes: 60) == nil)
        #expect(budget.hold(pool, bytes: 40) == nil)
        #expect(budget.hold(pool, bytes: 0)?.code == .busy)  // the count limit
        #expect(budget.held(in: pool) == .init(requests: 2, bytes: 100))
        #expect(budget.refused == 2)
        #expect(budget.refusalIsWorthAWarning)
        budget.forget(sender: NodeID(5))
        #expect(budget.held(in: pool) == .init())
    }
}
