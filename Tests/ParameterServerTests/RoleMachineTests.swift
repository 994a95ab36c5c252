import Logging
import Synchronization
import Testing
import ZeroMQ

@testable import ParameterServer

/// The roles' state machines driven by hand, with no network and a fake time: each event goes in
/// and the exact directives that come out are checked.
@Suite("Role state machines")
struct RoleMachineTests {
    static let table = TableSpec(name: "weights", id: 0, valueLength: 2)
    static let keySpace = KeyRange(0, 100)
    static let deadlines = Deadlines(
        startup: .seconds(10), request: .seconds(10), barrier: .seconds(10), shutdown: .seconds(5),
        heartbeatInterval: .milliseconds(500), heartbeatTimeout: .seconds(3), job: .seconds(600))
    static let start = ContinuousClock.now
    static let manager = PeerAddress.endpoint("mem://manager")

    static var logger: Logger {
        var logger = Logger(label: "zps.test.machines")
        logger.logLevel = .critical
        return logger
    }

    static func at(_ offset: Duration, on endpoint: String) -> NodeContext {
        NodeContext(now: start + offset, localEndpoint: endpoint)
    }

    /// The error of a send that could not be carried out.
    struct Unreachable: Error, CustomStringConvertible {
        var description: String { "host unreachable" }
    }

    static func routed(_ endpoint: String) -> PeerAddress { .routed(Array(endpoint.utf8)) }

    /// The header and destination of every directive (a stop is `nil`), header frames decoded.
    static func sends(_ directives: [NodeDirective]) throws -> [(header: Header, payload: [[UInt8]], to: PeerAddress, onFailure: SendFailurePolicy)?] {
        try directives.map { directive in
            switch directive {
            case .send(let header, let payload, let peer, let policy):
                return (header, payload.map(bytes), peer, policy)
            case .sendFrames(let frames, let peer, let policy):
                let message = try MessageCodec.decode(frames)
                return (message.header, message.payloadFrames.map(bytes), peer, policy)
            case .stop:
                return nil
            }
        }
    }

    static func bytes(_ frame: Frame) -> [UInt8] { frame.withUnsafeBytes { Array($0) } }
    static func bytes<T>(_ array: [T]) -> [UInt8] { array.withUnsafeBytes { Array($0) } }

    static func push(requestID: UInt64, keys: [UInt64], values: [Float], valueLength: UInt32 = 2) -> [Frame] {
        MessageCodec.encode(Message(
            header: Header(
                kind: .push, sender: NodeID(2), requestID: requestID, table: 0, timestamp: Int64(requestID),
                keyCount: UInt32(keys.count), valueLength: valueLength),
            keys: Frame(array: keys), values: Frame(array: values)))
    }

    /// What a node does on its first node table: it sends its first heartbeat at once (whose
    /// answer starts a server's lease), and nothing else.
    static func expectFirstHeartbeat(_ directives: [NodeDirective]) throws {
        let sent = try sends(directives)
        #expect(sent.map { $0?.header.kind } == [.heartbeat])
        #expect(sent.first??.header.requestID == 1)
        #expect(sent.first??.to == manager)
    }

    /// A server that has registered and received the node table naming it node 1, beside worker node 2,
    /// at 1 ms; its failure, when it stops, goes to `outcome`.
    static func registeredServer(outcome: NodeOutcome = NodeOutcome()) throws -> ServerCore {
        let server = ServerCore(
            settings: NodeSettings(
                role: .server, rank: 0, managerEndpoint: "mem://manager", bindEndpoint: "mem://server-0",
                tables: [table], deadlines: deadlines),
            outcome: outcome, logger: logger)
        let registration = try sends(server.handle(.started, context: at(.zero, on: "mem://server-0")))
        #expect(registration.count == 1)
        let register = try #require(registration.first ?? nil)
        #expect(register.header.kind == .register)
        #expect(register.header.role == .server)
        #expect(register.header.rank == 0)
        #expect(register.header.endpoint == "mem://server-0")
        #expect(register.header.requestID == 1)
        #expect(register.to == manager)
        #expect(register.onFailure == .fatal)

        let nodeTable = NodeTable(version: 1, nodes: [
            NodeInfo(id: NodeID(1), role: .server, rank: 0, endpoint: "mem://server-0", ranges: [keySpace]),
            NodeInfo(id: NodeID(2), role: .worker, rank: 0, endpoint: "mem://worker-0"),
        ])
        let tableMessage = MessageCodec.encode(Message(header: Header(
            kind: .nodeTable, sender: .manager, requestID: 1, nodeTable: nodeTable)))
        try expectFirstHeartbeat(server.handle(.received(tableMessage, from: manager), context: at(.milliseconds(1), on: "mem://server-0")))
        return server
    }

    @Test("a server answers a worker's push with a pushAck to that worker under the push's request id, and serves the values to a pull")
    func serverAcknowledgesPush() throws {
        let server = try Self.registeredServer()
        let worker = Self.routed("mem://worker-0")
        let context = Self.at(.milliseconds(2), on: "mem://server-0")

        let acknowledged = try Self.sends(server.handle(
            .received(Self.push(requestID: 1, keys: [3, 7], values: [1, 2, 3, 4]), from: worker), context: context))
        #expect(acknowledged.count == 1)
        let ack = try #require(acknowledged.first ?? nil)
        #expect(ack.header == Header(
            kind: .pushAck, sender: NodeID(1), requestID: 1, table: 0, timestamp: 1, keyCount: 2, valueLength: 2))
        #expect(ack.payload.isEmpty)
        #expect(ack.to == worker)
        #expect(ack.onFailure == .logged)

        let pull = MessageCodec.encode(Message(
            header: Header(kind: .pull, sender: NodeID(2), requestID: 2, table: 0, timestamp: 2, keyCount: 2, valueLength: 2),
            keys: Frame(array: [3, 7] as [UInt64])))
        let answered = try Self.sends(server.handle(.received(pull, from: worker), context: context))
        #expect(answered.count == 1)
        let reply = try #require(answered.first ?? nil)
        #expect(reply.header == Header(
            kind: .pullReply, sender: NodeID(1), requestID: 2, table: 0, timestamp: 2, keyCount: 2, valueLength: 2))
        #expect(reply.payload == [Self.bytes([1, 2, 3, 4] as [Float])])
        #expect(reply.to == worker)
        #expect(server.handle(.drained, context: context).isEmpty)
    }

    @Test("a server answers a malformed push with an error reply carrying the decoded error code and the push's request id")
    func serverRejectsMalformedPush() throws {
        let server = try Self.registeredServer()
        let worker = Self.routed("mem://worker-0")
        let context = Self.at(.milliseconds(2), on: "mem://server-0")

        let unsorted = try Self.sends(server.handle(
            .received(Self.push(requestID: 1, keys: [7, 3], values: [1, 2, 3, 4]), from: worker), context: context))
        #expect(unsorted.count == 1)
        let error = try #require(unsorted.first ?? nil)
        #expect(error.header.kind == .error)
        #expect(error.header.errorCode == .unsortedKeys)
        #expect(error.header.requestID == 1)
        #expect(error.header.sender == NodeID(1))
        #expect(error.to == worker)
        #expect(error.payload.isEmpty)

        let wrongLength = try Self.sends(server.handle(
            .received(Self.push(requestID: 2, keys: [3, 7], values: [1, 2, 3, 4, 5, 6], valueLength: 3), from: worker),
            context: context))
        #expect(wrongLength.count == 1)
        let mismatch = try #require(wrongLength.first ?? nil)
        #expect(mismatch.header.kind == .error)
        #expect(mismatch.header.errorCode == .sizeMismatch)
        #expect(mismatch.header.requestID == 2)
        #expect(mismatch.to == worker)
    }

    @Test("a server fails and stops when a send to its manager fails, and only logs a reply it could not send")
    func serverSendFailures() throws {
        let outcome = NodeOutcome()
        let server = ServerCore(
            settings: NodeSettings(
                role: .server, rank: 0, managerEndpoint: "mem://manager", bindEndpoint: "mem://server-0",
                tables: [Self.table], deadlines: Self.deadlines),
            outcome: outcome, logger: Self.logger)
        let context = Self.at(.zero, on: "mem://server-0")
        let registration = server.handle(.started, context: context)
        let reply = NodeDirective.send(Header(kind: .pushAck), payload: [], to: Self.routed("w"), onFailure: .logged)
        #expect(server.handle(.sendFailed(reply, error: Unreachable()), context: context).isEmpty)
        #expect(outcome.failure == nil)

        let failed = server.handle(.sendFailed(registration[0], error: Unreachable()), context: context)
        #expect(failed.count == 1)
        guard case .stop? = failed.first else {
            Issue.record("expected a stop, got \(failed)")
            return
        }
        #expect(outcome.failure == "host unreachable")
    }

    @Test("a manager shutting down does not wait for a node its shutdown could not reach, and still waits for the others")
    func managerSkipsUnreachableNodesAtShutdown() throws {
        let settings = ManagerSettings(
            bindEndpoint: "mem://manager", servers: 1, workers: 1, keySpace: Self.keySpace, deadlines: Self.deadlines)
        let reports = Mutex<[JobReport]>([])
        let manager = ManagerCore(settings: settings, logger: Self.logger) { report in reports.withLock { $0.append(report) } }
        func context(_ offset: Duration) -> NodeContext { Self.at(offset, on: "mem://manager") }
        _ = manager.handle(.started, context: context(.zero))
        for (role, endpoint) in [(NodeRole.server, "mem://server-0"), (.worker, "mem://worker-0")] {
            let register = MessageCodec.encode(Message(header: Header(kind: .register, requestID: 1, role: role, rank: 0, endpoint: endpoint)))
            _ = manager.handle(.received(register, from: Self.routed(endpoint)), context: context(.zero))
        }
        var directives: [NodeDirective] = []
        manager.execute({ $0.abort("interrupted") }, context: context(.seconds(1)), into: &directives)
        let shutdowns = directives.filter { $0.header?.kind == .shutdown }
        #expect(shutdowns.compactMap(\.peer) == [Self.routed("mem://server-0"), Self.routed("mem://worker-0")])
        // The worker exited: its shutdown cannot be sent. The server's acknowledgement is still awaited.
        _ = manager.handle(.sendFailed(shutdowns[1], error: Unreachable()), context: context(.seconds(1)))
        #expect(reports.withLock { $0.isEmpty })
        let ack = MessageCodec.encode(Message(header: Header(kind: .shutdownAck, sender: NodeID(1), requestID: 0)))
        _ = manager.handle(.received(ack, from: Self.routed("mem://server-0")), context: context(.seconds(1)))
        // Finished at once, long before the 5 s shutdown deadline, with nobody left unacknowledged.
        let report = try #require(reports.withLock { $0.first })
        #expect(report.failure == "interrupted")
        #expect(report.unacknowledged.isEmpty)
    }

    @Test("a manager's tick past the heartbeat timeout of a silent server broadcasts the table without it to the others")
    func managerDropsSilentServer() throws {
        var settings = ManagerSettings(
            bindEndpoint: "mem://manager", servers: 2, workers: 1, keySpace: Self.keySpace, deadlines: Self.deadlines)
        settings.replication = 1
        let manager = ManagerCore(settings: settings, logger: Self.logger) { _ in }
        func context(_ offset: Duration) -> NodeContext { Self.at(offset, on: "mem://manager") }
        #expect(manager.handle(.started, context: context(.zero)).isEmpty)

        let nodes: [(role: NodeRole, rank: UInt32, endpoint: String)] = [
            (.server, 0, "mem://server-0"), (.server, 1, "mem://server-1"), (.worker, 0, "mem://worker-0"),
        ]
        var published: [NodeDirective] = []
        for node in nodes {
            let register = MessageCodec.encode(Message(header: Header(
                kind: .register, requestID: 1, role: node.role, rank: node.rank, endpoint: node.endpoint)))
            published = manager.handle(.received(register, from: Self.routed(node.endpoint)), context: context(.zero))
        }
        // The last registration starts the job: the table goes to every member.
        let first = try Self.sends(published).map { try #require($0) }
        #expect(first.map(\.to) == nodes.map { Self.routed($0.endpoint) })
        #expect(first.allSatisfy { $0.header.kind == .nodeTable && $0.onFailure == .logged })
        let table = try #require(first.first?.header.nodeTable)
        // Each of the three admissions is a membership version.
        #expect(table.version == 3)
        #expect(table.nodes.map(\.id) == [NodeID(1), NodeID(2), NodeID(3)])
        let segments = table.chains.map(\.range).sorted { $0.lowerBound < $1.lowerBound }

        // Server-0 and the worker keep sending heartbeats; server-1 is silent.
        for (id, endpoint) in [(NodeID(1), "mem://server-0"), (NodeID(3), "mem://worker-0")] {
            let heartbeat = MessageCodec.encode(Message(header: Header(kind: .heartbeat, sender: id, requestID: 2)))
            let answer = try Self.sends(manager.handle(.received(heartbeat, from: Self.routed(endpoint)), context: context(.seconds(2))))
            #expect(answer.count == 1)
            #expect(answer.first??.header == Header(kind: .heartbeat, sender: .manager, requestID: 2))
            #expect(answer.first??.to == Self.routed(endpoint))
        }
        #expect(manager.handle(.tick, context: context(.seconds(3))).isEmpty)

        let dropped = try Self.sends(manager.handle(.tick, context: context(.milliseconds(3001)))).map { try #require($0) }
        #expect(dropped.map(\.to) == [Self.routed("mem://server-0"), Self.routed("mem://worker-0")])
        #expect(dropped.map(\.header.kind) == [.nodeTable, .nodeTable])
        #expect(dropped.map(\.header.requestID) == [1, 1])
        let next = try #require(dropped.first?.header.nodeTable)
        // The worker's copy is the server's without the members' connection identities.
        #expect(dropped.last?.header.nodeTable == NodeTable(version: next.version, nodes: next.nodes.map(\.withoutConnection), chains: next.chains))
        #expect(next.nodes.map(\.routingID) == [Array("mem://server-0".utf8), Array("mem://worker-0".utf8)])
        #expect(next.version == 4)
        #expect(next.nodes.map(\.id) == [NodeID(1), NodeID(3)])
        #expect(next.nodes[0].ranges.sorted { $0.lowerBound < $1.lowerBound } == segments)
        #expect(next.chains.map(\.nodes) == Array(repeating: [NodeID(1)], count: segments.count))
    }
}
