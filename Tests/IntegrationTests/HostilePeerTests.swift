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

    @Test("10,000 malformed messages each get an error reply; the server then serves exact pulls")
    func floodThenServe() async throws {
        let (manager, server, _, settings) = try await ClusterSupport.startOneServer("hostile", keySpace: Self.keySpace)
        defer { manager.kill(); server.kill() }
        let codes = Mutex<[ErrorCode: Int]>([:])
        let replies = Mutex(0)
        let pulled = Mutex<[Float]>([])
        let node = WorkerNode(settings: settings, logger: ClusterSupport.logger) { worker in
            let table = try await worker.waitUntilRegistered()
            let serverEndpoint = try #require(table.nodes(withRole: .server).first?.endpoint)
            // The flood runs on its own thread: sockets belong to one thread.
            let outcome: Result<[ErrorCode: Int], any Error> = await withCheckedContinuation { continuation in
                let thread = Thread {
                    continuation.resume(returning: Result { try Self.flood(serverEndpoint) })
                }
                thread.start()
            }
            let histogram = try outcome.get()
            codes.withLock { $0 = histogram }
            replies.withLock { $0 = histogram.values.reduce(0, +) }
            let keys: [UInt64] = [0, 1, 2, 500, 49_999, 50_000, 99_999]
            try await worker.push(table: 0, keys: keys, values: keys.map { Float($0 % 1000) + 0.5 })
            try await worker.push(table: 0, keys: keys, values: keys.map { _ in 1 })
            try await worker.waitForAll()
            pulled.withLock { $0 = [] }
            let values = try await worker.pull(table: 0, keys: keys)
            pulled.withLock { $0 = values }
            return "flooded and served"
        }
        try await node.run()

        #expect(replies.withLock { $0 } == Self.messageCount)
        let histogram = codes.withLock { $0 }
        #expect(histogram.values.reduce(0, +) == Self.messageCount)
        // Each deliberate kind of damage is reported with its own code.
        for code in [ErrorCode.sizeMismatch, .unsortedKeys, .keyOutOfRange, .unsupportedVersion, .unknownTable, .unknownKind] {
            #expect((histogram[code] ?? 0) > 0, "no \(code) among \(histogram)")
        }
        let keys: [UInt64] = [0, 1, 2, 500, 49_999, 50_000, 99_999]
        #expect(pulled.withLock { $0 } == keys.map { Float($0 % 1000) + 1.5 })
        #expect(try await manager.waitForExit(within: .seconds(30)) == 0)
        #expect(try await server.waitForExit(within: .seconds(30)) == 0, "server: \(server.errors.suffix(1000))")
        // The server logged what it rejected.
        #expect(server.errors.components(separatedBy: "rejected a request").count - 1 == Self.messageCount)
    }

    /// Sends the malformed messages from a raw DEALER and reads one reply per message.
    static func flood(_ endpoint: String) throws -> [ErrorCode: Int] {
        let context = try Context()
        defer { try? context.terminate() }
        let socket = try Socket(.dealer, context: context)
        try socket.set(.linger, to: 0)
        try socket.set(.receiveTimeout, to: 10_000)
        try socket.connect(to: endpoint)
        var random = SplitMix64(seed: 2026)
        var received = 0
        var codes: [ErrorCode: Int] = [:]
        func receiveOne() throws {
            guard let frames = try socket.receiveMultipart() else {
                throw ClusterTestError("the server did not answer message \(received) within 10 s")
            }
            let reply = try MessageCodec.decode(frames)
            guard reply.header.kind == .error, let code = reply.header.errorCode else {
                throw ClusterTestError("expected an error reply, got \(reply.header.kind)")
            }
            codes[code, default: 0] += 1
            received += 1
        }
        for index in 0..<messageCount {
            try socket.send(malformedMessage(index, random: &random))
            // Keep a bounded number in flight, as a real client would.
            if index - received >= 64 { try receiveOne() }
        }
        while received < messageCount { try receiveOne() }
        return codes  // the socket closes here (linger 0), before the context terminates
    }
}
