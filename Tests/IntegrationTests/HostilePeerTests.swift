import Foundation
import ParameterServer
import Synchronization
import Testing
import ZeroMQ

/// A foreign ZeroMQ peer floods a server process with malformed and random messages; the server
/// answers every one with an error reply and still serves a real worker correctly afterwards.
@Suite("Hostile peer", .serialized)
struct HostilePeerTests {
    static let messageCount = 10_000
    static let keySpace = 100_000

    /// Message `index` of the flood: one of several kinds of damage, chosen in turn.
    static func malformedMessage(_ index: Int, random: inout SplitMix64) -> [Frame] {
        func randomBytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) } }
        func header(_ header: Header) -> Frame { HeaderCodec.encode(header) }
        let keys: [UInt64] = [3, 7, 11, 19]
        let values: [Float] = [1, 2, 3, 4]
        switch index % 10 {
        case 0:  // random bytes, one frame
            return [Frame(bytes: randomBytes(Int.random(in: 0...64, using: &random)))]
        case 1:  // random bytes, several frames
            return (0..<Int.random(in: 2...6, using: &random)).map { _ in Frame(bytes: randomBytes(Int.random(in: 0...40, using: &random))) }
        case 2:  // a push whose keys frame is not a whole number of keys
            return [header(Header(kind: .push, table: 0, keyCount: 4, valueLength: 1)), Frame(bytes: randomBytes(31)), Frame(array: values)]
        case 3:  // unsorted keys
            return [header(Header(kind: .push, table: 0, keyCount: 4, valueLength: 1)), Frame(array: [UInt64(9), 3, 7, 11]), Frame(array: values)]
        case 4:  // keys outside the server's range
            return [header(Header(kind: .pull, table: 0, keyCount: 2, valueLength: 1)), Frame(array: [UInt64(5), UInt64(Self.keySpace) + 5])]
        case 5:  // an unknown protocol version
            var bad = Header(kind: .pull, table: 0, keyCount: 4, valueLength: 1)
            bad.version = 99
            return [header(bad), Frame(array: keys)]
        case 6:  // a truncated header
            let full = header(Header(kind: .push, sender: NodeID(7), requestID: 99, table: 0, keyCount: 4, valueLength: 1)).bytes
            return [Frame(bytes: full.prefix(Int.random(in: 1..<full.count, using: &random))), Frame(array: keys), Frame(array: values)]
        case 7:  // a table the server does not have
            return [header(Header(kind: .pull, table: 42, keyCount: 4, valueLength: 1)), Frame(array: keys)]
        case 8:  // a kind servers do not accept, and a value count that does not match
            return Bool.random(using: &random)
                ? [header(Header(kind: .pushAck, table: 0))]
                : [header(Header(kind: .push, table: 0, keyCount: 4, valueLength: 1)), Frame(array: keys), Frame(array: [Float(1)])]
        default:  // an absurd declared container size (a 2^32-1 entry map in 5 bytes)
            return [Frame(bytes: [0xdf, 0xff, 0xff, 0xff, 0xff]), Frame(array: keys)]
        }
    }

    /// The damage classes of ``malformedMessage(_:random:)``.
    enum Damage: String, CaseIterable, Sendable {
        case randomBytes, randomFrames, partialKeys, unsortedKeys, keyOutOfRange, unknownVersion
        case truncatedHeader, unknownTable, unacceptedKind, valueCountMismatch, absurdContainer
    }

    /// The class of message `index`, replaying the generator's draws for it.
    static func damage(_ index: Int, frames: [Frame]) -> Damage {
        switch index % 10 {
        case 0: .randomBytes
        case 1: .randomFrames
        case 2: .partialKeys
        case 3: .unsortedKeys
        case 4: .keyOutOfRange
        case 5: .unknownVersion
        case 6: .truncatedHeader
        case 7: .unknownTable
        case 8: frames.count == 1 ? .unacceptedKind : .valueCountMismatch
        default: .absurdContainer
        }
    }

    /// The code a server answers a message of each class with; `nil` for the classes of random
    /// bytes, whose code depends on what the bytes happen to be (``randomCode(_:)``).
    static let codeByDamage: [Damage: ErrorCode] = [
        .partialKeys: .sizeMismatch, .unsortedKeys: .unsortedKeys, .keyOutOfRange: .keyOutOfRange,
        .unknownVersion: .unsupportedVersion, .unknownTable: .unknownTable, .unacceptedKind: .unknownKind,
        .valueCountMismatch: .sizeMismatch, .absurdContainer: .malformedHeader,
    ]

    /// The code for random bytes or a truncated header: the one the wire codec reports for them
    /// (its own tests pin those down); `nil` if they happen to decode.
    static func randomCode(_ frames: [Frame]) -> ErrorCode? {
        do {
            _ = try MessageCodec.decode(frames, limits: WireLimits())
            return nil
        } catch {
            return error.code
        }
    }

    /// What the flood sends, replayed from the same seed: each message's class and the error code
    /// the server must answer it with, in sending order.
    static func expectedReplies() -> [(damage: Damage, code: ErrorCode?)] {
        var random = SplitMix64(seed: seed)
        return (0..<messageCount).map { index in
            let frames = malformedMessage(index, random: &random)
            let damage = damage(index, frames: frames)
            return (damage, codeByDamage[damage] ?? randomCode(frames))
        }
    }

    static let seed: UInt64 = 2026
    /// Keys the flood's requests name; none of them may change.
    static let floodKeys: [UInt64] = [3, 5, 7, 9, 11, 19]
    /// Keys the worker pushes to afterwards, across the server's range.
    static let servedKeys: [UInt64] = [0, 1, 2, 500, 49_999, 50_000, 99_999]

    @Test("10,000 malformed messages each get the error reply their damage calls for; the server then serves exact pulls")
    func floodThenServe() async throws {
        let (manager, server, _, settings) = try await ClusterSupport.startOneServer("hostile", keySpace: Self.keySpace)
        defer { manager.kill(); server.kill() }
        let received = Mutex<[ErrorCode]>([])
        let untouched = Mutex<[Float]>([])
        let pulled = Mutex<[Float]>([])
        let node = WorkerNode(settings: settings, logger: ClusterSupport.logger) { worker in
            let table = try await worker.waitUntilRegistered()
            let serverEndpoint = try #require(table.nodes(withRole: .server).first?.endpoint)
            // The flood runs on its own thread: sockets belong to one thread.
            let outcome: Result<[ErrorCode], any Error> = await withCheckedContinuation { continuation in
                let thread = Thread {
                    continuation.resume(returning: Result { try Self.flood(serverEndpoint) })
                }
                thread.start()
            }
            let codes = try outcome.get()
            received.withLock { $0 = codes }
            let before = try await worker.pull(table: 0, keys: Self.floodKeys)
            untouched.withLock { $0 = before }
            let keys = Self.servedKeys
            try await worker.push(table: 0, keys: keys, values: keys.map { Float($0 % 1000) + 0.5 })
            try await worker.push(table: 0, keys: keys, values: keys.map { _ in 1 })
            try await worker.waitForAll()
            let values = try await worker.pull(table: 0, keys: keys)
            pulled.withLock { $0 = values }
            return "flooded and served"
        }
        try await node.run()

        let expected = Self.expectedReplies()
        let codes = received.withLock { $0 }
        #expect(codes.count == Self.messageCount)
        // Every class was sent, in the numbers the generator says.
        let sent = Dictionary(grouping: expected, by: \.damage).mapValues(\.count)
        #expect(Set(sent.keys) == Set(Damage.allCases), "classes sent: \(sent)")
        #expect(sent[.unacceptedKind, default: 0] + sent[.valueCountMismatch, default: 0] == Self.messageCount / 10)
        let undecodable = expected.filter { $0.code == nil }.count
        #expect(undecodable == 0, "\(undecodable) random messages decode: the generator no longer makes only damaged ones")
        // Exactly as many replies of each code as messages calling for it.
        let expectedHistogram = Dictionary(grouping: expected.compactMap(\.code), by: { $0 }).mapValues(\.count)
        let histogram = Dictionary(grouping: codes, by: { $0 }).mapValues(\.count)
        #expect(histogram == expectedHistogram, "replies by code \(histogram), expected \(expectedHistogram)")
        // A server answers one peer's messages in the order they came.
        let firstWrong = zip(codes, expected).enumerated().first { $0.element.0 != $0.element.1.code }
        #expect(firstWrong == nil, "message \(firstWrong?.offset ?? -1) (\(firstWrong.map { "\($0.element.1.damage)" } ?? "")) was answered with \(firstWrong.map { "\($0.element.0)" } ?? "")")

        // Nothing the flood sent changed the table; the worker's pushes are applied exactly once each.
        #expect(untouched.withLock { $0 } == Self.floodKeys.map { _ in 0 })
        #expect(pulled.withLock { $0 } == Self.servedKeys.map { Float($0 % 1000) + 1.5 })
        #expect(try await manager.waitForExit(within: .seconds(30)) == 0)
        #expect(try await server.waitForExit(within: .seconds(30)) == 0, "server: \(server.errors.suffix(1000))")
        // The server logged what it rejected, once per message.
        #expect(server.errors.components(separatedBy: "rejected a request").count - 1 == Self.messageCount)
    }

    /// The pushes of attack 1 (issue 17): well formed, with a sender id at or beyond every bound
    /// and a timestamp of 1, and the error each must get: its request id, code and field.
    static let extremeSenders: [(sender: NodeID, requestID: UInt64, code: ErrorCode, field: String)] = [
        (.unassigned, 1, .notRegistered, "s"),
        (NodeID(UInt32.max - 1), 5, .tooLarge, "s"),
        (NodeID(UInt32(WireLimits.default.maxNodeID) + 1), 9, .tooLarge, "s"),
    ]

    @Test("a push with an extreme sender id and a timestamp is refused with an error naming s and its request id; the server lives and stays exact")
    func extremeSenderPush() async throws {
        let (manager, server, _, settings) = try await ClusterSupport.startOneServer("extreme-sender", keySpace: Self.keySpace)
        defer { manager.kill(); server.kill() }
        let replies = Mutex<[Header]>([])
        let pulled = Mutex<[Float]>([])
        let node = WorkerNode(settings: settings, logger: ClusterSupport.logger) { worker in
            let table = try await worker.waitUntilRegistered()
            let serverEndpoint = try #require(table.nodes(withRole: .server).first?.endpoint)
            let outcome: Result<[Header], any Error> = await withCheckedContinuation { continuation in
                let thread = Thread { continuation.resume(returning: Result { try Self.sendExtremeSenders(serverEndpoint) }) }
                thread.start()
            }
            let headers = try outcome.get()
            replies.withLock { $0 = headers }
            let keys = Self.floodKeys + Self.servedKeys.filter { !Self.floodKeys.contains($0) }
            try await worker.push(table: 0, keys: keys.sorted(), values: keys.sorted().map { Float($0) + 0.25 })
            try await worker.waitForAll()
            let values = try await worker.pull(table: 0, keys: keys.sorted())
            pulled.withLock { $0 = values }
            return "refused the extreme senders and served"
        }
        try await node.run()

        let headers = replies.withLock { $0 }
        #expect(headers.count == Self.extremeSenders.count)
        for (header, expected) in zip(headers, Self.extremeSenders) {
            #expect(header.kind == .error, "\(expected.sender)")
            #expect(header.requestID == expected.requestID, "\(expected.sender)")
            #expect(header.errorCode == expected.code, "\(expected.sender)")
            #expect(header.errorMessage?.hasPrefix("\(expected.code.name) at \(expected.field):") == true, "\(header.errorMessage ?? "")")
        }
        // Only the worker's push is applied, once.
        let keys = (Self.floodKeys + Self.servedKeys.filter { !Self.floodKeys.contains($0) }).sorted()
        #expect(pulled.withLock { $0 } == keys.map { Float($0) + 0.25 })
        #expect(try await manager.waitForExit(within: .seconds(30)) == 0)
        #expect(try await server.waitForExit(within: .seconds(30)) == 0, "server: \(server.errors.suffix(1000))")
    }

    /// Sends each push of ``extremeSenders`` from a raw DEALER and returns the reply headers in order.
    static func sendExtremeSenders(_ endpoint: String) throws -> [Header] {
        let context = try Context()
        defer { try? context.terminate() }
        let socket = try Socket(.dealer, context: context)
        try socket.set(.linger, to: 0)
        try socket.set(.receiveTimeout, to: 10_000)
        try socket.connect(to: endpoint)
        var headers: [Header] = []
        for push in extremeSenders {
            let header = Header(
                kind: .push, sender: push.sender, requestID: push.requestID, table: 0, timestamp: 1,
                keyCount: UInt32(floodKeys.count), valueLength: 1)
            try socket.send([HeaderCodec.encode(header), Frame(array: floodKeys), Frame(array: floodKeys.map { _ in Float(1000) })])
            guard let frames = try socket.receiveMultipart() else {
                throw ClusterTestError("the server did not answer the push from \(push.sender) within 10 s")
            }
            headers.append(try HeaderCodec.decode(frames[0]))
        }
        return headers
    }

    /// Sends the malformed messages from a raw DEALER and reads one reply per message; returns the
    /// replies' error codes in arrival order.
    static func flood(_ endpoint: String) throws -> [ErrorCode] {
        let context = try Context()
        defer { try? context.terminate() }
        let socket = try Socket(.dealer, context: context)
        try socket.set(.linger, to: 0)
        try socket.set(.receiveTimeout, to: 10_000)
        try socket.connect(to: endpoint)
        var random = SplitMix64(seed: seed)
        var codes: [ErrorCode] = []
        func receiveOne() throws {
            guard let frames = try socket.receiveMultipart() else {
                throw ClusterTestError("the server did not answer message \(codes.count) within 10 s")
            }
            let reply = try MessageCodec.decode(frames)
            guard reply.header.kind == .error, let code = reply.header.errorCode else {
                throw ClusterTestError("expected an error reply, got \(reply.header.kind)")
            }
            codes.append(code)
        }
        for index in 0..<messageCount {
            try socket.send(malformedMessage(index, random: &random))
            // Keep a bounded number in flight, as a real client would.
            if index - codes.count >= 64 { try receiveOne() }
        }
        while codes.count < messageCount { try receiveOne() }
        return codes  // the socket closes here (linger 0), before the context terminates
    }
    /// What ``impersonate(manager:server:)`` saw.
    struct Impersonation: Sendable {
        var victim = NodeID.unassigned
        var impostorReplies: [Header] = []
        var victimReplies: [Header] = []
        var victimPulled: [Float] = []
    }

    static let victimKeys: [UInt64] = [4, 400, 40_000]
    /// The victim's three pushes, in order; the impostor's values are never applied.
    static let victimPushes: [[Float]] = [[1, 2, 3], [0.5, 0.25, 0.125], [10, 20, 30]]
    static let impostorValues: [Float] = [1000, 1000, 1000]

    @Test("an impostor pushing with a client's sender id and next request ids gets wrongConnection; nothing of it is applied, and the client's own later pushes are applied exactly")
    func impostorRefused() async throws {
        let (manager, server, managerEndpoint, settings) = try await ClusterSupport.startOneServer("impostor", keySpace: Self.keySpace)
        defer { manager.kill(); server.kill() }
        let seen = Mutex<Impersonation?>(nil)
        let pulled = Mutex<[Float]>([])
        let node = WorkerNode(settings: settings, logger: ClusterSupport.logger) { worker in
            let table = try await worker.waitUntilRegistered()
            let serverEndpoint = try #require(table.nodes(withRole: .server).first?.endpoint)
            let outcome: Result<Impersonation, any Error> = await withCheckedContinuation { continuation in
                let thread = Thread {
                    continuation.resume(returning: Result { try Self.impersonate(manager: managerEndpoint, server: serverEndpoint) })
                }
                thread.start()
            }
            let impersonation = try outcome.get()
            seen.withLock { $0 = impersonation }
            let values = try await worker.pull(table: 0, keys: Self.victimKeys)
            pulled.withLock { $0 = values }
            return "impostor refused"
        }
        try await node.run()

        let impersonation = try #require(seen.withLock { $0 })
        #expect(impersonation.victim != .unassigned)
        // Request ids 2, 3 and a retry of 1 from a connection with a routing id of its own, then 2
        // from one whose id libzmq made up: each refused, each reply under the request's id.
        #expect(impersonation.impostorReplies.map(\.kind) == [.error, .error, .error, .error])
        #expect(impersonation.impostorReplies.map(\.errorCode) == [.wrongConnection, .wrongConnection, .wrongConnection, .wrongConnection])
        #expect(impersonation.impostorReplies.map(\.requestID) == [2, 3, 1, 2])
        #expect(impersonation.impostorReplies.allSatisfy { $0.errorMessage?.hasPrefix("wrongConnection at s:") == true })
        // The victim's pushes 1, 2, 3 are acknowledged, and applied: not answered from a cache.
        #expect(impersonation.victimReplies.map(\.kind) == [.pushAck, .pushAck, .pushAck, .pullReply])
        #expect(impersonation.victimReplies.map(\.requestID) == [1, 2, 3, 4])
        let sums = (0..<Self.victimKeys.count).map { index in Self.victimPushes.reduce(Float(0)) { $0 + $1[index] } }
        #expect(impersonation.victimPulled == sums)
        #expect(pulled.withLock { $0 } == sums)
        #expect(try await manager.waitForExit(within: .seconds(30)) == 0)
        #expect(try await server.waitForExit(within: .seconds(30)) == 0, "server: \(server.errors.suffix(1000))")
        let refusals = server.errors.components(separatedBy: "\n").filter { $0.contains("whose sender id belongs to another connection") }
        // Four refusals are logged at the 1st, 2nd and 4th.
        #expect(refusals.count == 3, "\(refusals)")
    }

    /// A client registers and pushes; an impostor pushes with its sender id and next ids; the client
    /// pushes again and pulls. Runs on a thread of its own: sockets belong to one thread.
    static func impersonate(manager: String, server: String) throws -> Impersonation {
        let context = try Context()
        defer { try? context.terminate() }
        func dealer(_ endpoint: String, routingID: [UInt8]?) throws -> Socket {
            let socket = try Socket(.dealer, context: context)
            try socket.set(.linger, to: 0)
            try socket.set(.receiveTimeout, to: 10_000)
            if let routingID { try socket.set(.routingID, to: routingID) }
            try socket.connect(to: endpoint)
            return socket
        }
        func receive(_ socket: borrowing Socket, _ what: String) throws -> Message {
            guard let frames = try socket.receiveMultipart() else { throw ClusterTestError("\(what) did not answer within 10 s") }
            return try MessageCodec.decode(frames)
        }
        var seen = Impersonation()
        let victimID: [UInt8] = [0xB1] + Array("victim-client".utf8)
        let victimManager = try dealer(manager, routingID: victimID)
        let victimServer = try dealer(server, routingID: victimID)
        let impostor = try dealer(server, routingID: [0xB2] + Array("impostor".utf8))
        let anonymous = try dealer(server, routingID: nil)

        let name = "impostor-test-victim"
        try victimManager.send(MessageCodec.encode(Message(header: Header(kind: .register, requestID: 1, role: .client, rank: 0, endpoint: name))))
        let table = try receive(victimManager, "the manager").header.nodeTable
        let me = try #require(table?.nodes.first { $0.role == .client && $0.endpoint == name }?.id)
        seen.victim = me

        func push(_ socket: borrowing Socket, id: UInt64, values: [Float], retry: Bool = false) throws {
            let header = Header(
                kind: .push, sender: me, requestID: id, table: 0, timestamp: Int64(id), flags: retry ? [.retry] : [],
                keyCount: UInt32(victimKeys.count), valueLength: 1)
            try socket.send(MessageCodec.encode(Message(header: header, keys: Frame(array: victimKeys), values: Frame(array: values))))
        }
        try push(victimServer, id: 1, values: victimPushes[0])
        seen.victimReplies.append(try receive(victimServer, "the server").header)
        for (id, retry) in [(UInt64(2), false), (3, false), (1, true)] {
            try push(impostor, id: id, values: impostorValues, retry: retry)
            seen.impostorReplies.append(try receive(impostor, "the server").header)
        }
        try push(anonymous, id: 2, values: impostorValues)
        seen.impostorReplies.append(try receive(anonymous, "the server").header)
        try push(victimServer, id: 2, values: victimPushes[1])
        seen.victimReplies.append(try receive(victimServer, "the server").header)
        try push(victimServer, id: 3, values: victimPushes[2])
        seen.victimReplies.append(try receive(victimServer, "the server").header)
        let pull = Header(kind: .pull, sender: me, requestID: 4, table: 0, timestamp: 4, keyCount: UInt32(victimKeys.count), valueLength: 1)
        try victimServer.send(MessageCodec.encode(Message(header: pull, keys: Frame(array: victimKeys))))
        let reply = try receive(victimServer, "the server")
        seen.victimReplies.append(reply.header)
        seen.victimPulled = reply.values.map { PayloadFrame<Float>($0).elements } ?? []
        return seen  // the sockets close here (linger 0), before the context terminates
    }
}
