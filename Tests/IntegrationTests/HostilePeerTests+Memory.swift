import Foundation
import ParameterServer
import Synchronization
import Testing
import ZeroMQ

/// Attacks 3 and 5 of issue 17 against a real server process: a registered client that asks for
/// large replies and never reads them, and a flood of requests from sender ids the node table does
/// not list. The server stays alive and within its configured memory, a worker beside them stays
/// exact, and the silent peer's queue is released, and its memory handed back, once it leaves.
extension HostilePeerTests {
    /// The server's resident memory, from /proc/PID/status.
    static func residentBytes(of pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { return nil }
        return kilobytes * 1024
    }

    /// The largest count in the server's "dropped N replies" warnings (0 if none).
    static func droppedReplies(in log: String) -> Int {
        log.split(separator: "\n").compactMap { line -> Int? in
            guard let range = line.range(of: "server-0 dropped ") else { return nil }
            return Int(line[range.upperBound...].prefix { $0.isNumber })
        }.max() ?? 0
    }

    /// Registers as a foreign client with the manager at `managerEndpoint` over `socket`; returns
    /// the node id the node table gives it.
    static func registerClient(_ socket: borrowing Socket, endpoint: String) throws -> NodeID {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let register = Header(kind: .register, requestID: 1, role: .client, rank: 0, endpoint: endpoint)
            try socket.send(MessageCodec.encode(Message(header: register)))
            while let frames = try socket.receiveMultipart() {
                let reply = try MessageCodec.decode(frames)
                if let table = reply.header.nodeTable,
                    let me = table.nodes.first(where: { $0.role == .client && $0.endpoint == endpoint })
                {
                    return me.id
                }
                if reply.header.kind == .error { break }  // the job is not running yet: retry
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        throw ClusterTestError("the manager did not admit the client within 30 s")
    }

    /// A client that registers, reads the reply to one range pull of `range` (so the server knows
    /// it), then sends `pulls` more from a DEALER that reads nothing (a high-water mark of 1
    /// message and a 4 KiB socket buffer), waits for `leave` and disconnects. Runs on its own
    /// thread; returns once it has left.
    static func silentClient(
        manager managerEndpoint: String, server serverEndpoint: String, range: KeyRange, pulls: Int,
        sent: DispatchSemaphore, leave: DispatchSemaphore
    ) throws {
        let context = try Context()
        defer { try? context.terminate() }
        let id: NodeID
        // One routing id on both connections, as a registered node must use (docs/PROTOCOL.md 7.8).
        let routingID: [UInt8] = [0xC2] + Array("silent-peer".utf8)
        do {
            let managerSocket = try Socket(.dealer, context: context)
            try managerSocket.set(.routingID, to: routingID)
            try managerSocket.set(.linger, to: 0)
            try managerSocket.set(.receiveTimeout, to: 2_000)
            try managerSocket.connect(to: managerEndpoint)
            id = try registerClient(managerSocket, endpoint: "tcp://127.0.0.1:9")
        }
        let socket = try Socket(.dealer, context: context)
        try socket.set(.routingID, to: routingID)
        try socket.set(.linger, to: 0)
        try socket.set(.receiveHighWaterMark, to: 1)
        try socket.set(.receiveBufferSize, to: 4096)
        try socket.set(.receiveTimeout, to: 30_000)
        try socket.connect(to: serverEndpoint)
        func pull(_ requestID: UInt64) throws {
            let header = Header(
                kind: .pull, sender: id, requestID: requestID, table: 0, timestamp: Int64(requestID), keyRange: range,
                flags: .rangeRequest, keyCount: 0, valueLength: 1)
            try socket.send([HeaderCodec.encode(header)])
        }
        // The server holds requests of a sender its node table does not list yet; once this one
        // is answered, it lists the client.
        try pull(1)
        guard let first = try socket.receiveMultipart(), try HeaderCodec.decode(first[0]).kind == .pullReply else {
            throw ClusterTestError("the server did not answer the client's first pull within 30 s")
        }
        for requestID in 2...UInt64(pulls + 1) { try pull(requestID) }
        sent.signal()
        leave.wait()
    }

    @Test("a client that asks for 100 replies of 3 MB and reads none: the server drops and counts them, stays within its reply budget, and a worker stays exact; after it leaves the queue is released and memory is back at the baseline within one reply")
    func peerThatNeverReads() async throws {
        let replyBudget = 32 << 20
        let slack = 64 << 20
        let keySpace = 1 << 20
        let pulls = 100
        let pulledRange = KeyRange(0, 1 << 18)  // 3 MiB per reply: 8 bytes of key and 4 of value per key
        // Once the client left, every reply queued for it is freed and handed back to the system.
        // What may stay resident beyond the baseline is small: allocations made meanwhile among the
        // freed replies (the worker's requests, per-connection state of a few KiB) and the pages
        // holding the free chunks' headers. One reply's size bounds that with room to spare, and
        // is a tenth of the ~30 MiB of queued replies that stayed resident while a thread's free
        // heap top was not trimmed: keeping even one reply's memory fails the test.
        let afterSlack = Int(pulledRange.upperBound - pulledRange.lowerBound) * 12
        let directory = try ClusterSupport.temporaryDirectory("silent-peer")
        let topology = try ClusterSupport.writeTopology(
            in: directory, servers: 1, workers: 1, keySpace: keySpace, tables: [("weights", 1)],
            // A server serves a batch of queued requests before its next tick: the client's
            // queued range pulls must not cost it its heartbeats on a loaded host.
            deadlines: "  startup: 60s\n  heartbeat_timeout: 30s\n",
            extra: "peer_limits: { reply_bytes: \(replyBudget) }")
        let (manager, managerEndpoint) = try await NodeProcess.startManager(topology: topology, directory: directory)
        let server = try NodeProcess.start("server", rank: 0, topology: topology, manager: managerEndpoint, directory: directory)
        defer { manager.kill(); server.kill() }
        let settings = try ClusterSupport.workerSettings(topology: topology, rank: 0, manager: managerEndpoint)
        let keys = (0..<UInt64(1000)).map { $0 * 1000 }
        struct Figures { var baseline = 0, peak = 0, after = 0, rounds = 0, wrong: [String] = [], dropped = 0 }
        let figures = Mutex(Figures())
        let pid = server.pid
        let node = WorkerNode(settings: settings, logger: ClusterSupport.logger) { worker in
            let table = try await worker.waitUntilRegistered()
            let serverEndpoint = try #require(table.nodes(withRole: .server).first?.endpoint)
            var expected: Float = 0
            func round() async throws {
                try await worker.push(table: 0, keys: keys, values: keys.map { _ in 1 })
                expected += 1
                let values = try await worker.pull(table: 0, keys: keys)
                if values != keys.map({ _ in expected }) {
                    figures.withLock { $0.wrong.append("after \(expected) pushes: \(values.prefix(3))…") }
                }
                figures.withLock { $0.rounds += 1 }
            }
            // The whole table once, so that its store is in memory before the baseline.
            _ = try await worker.pull(table: 0, keys: Array(0..<UInt64(keySpace)))
            try await round()
            try await Task.sleep(for: .milliseconds(500))
            let baseline = try #require(Self.residentBytes(of: pid))
            figures.withLock { $0.baseline = baseline }

            let sent = DispatchSemaphore(value: 0)
            let leave = DispatchSemaphore(value: 0)
            let left = Mutex<Result<Void, any Error>?>(nil)
            let thread = Thread {
                let outcome = Result {
                    try Self.silentClient(
                        manager: managerEndpoint, server: serverEndpoint, range: pulledRange, pulls: pulls,
                        sent: sent, leave: leave)
                }
                left.withLock { $0 = outcome }
                sent.signal()
            }
            thread.start()
            // The worker works while the server answers the silent client, until it has dropped
            // replies and at least 5 s have passed.
            let floodStart = ContinuousClock.now
            var peak = baseline
            while ContinuousClock.now - floodStart < .seconds(5) || Self.droppedReplies(in: server.errors) == 0 {
                guard ContinuousClock.now - floodStart < .seconds(60) else { break }
                try await round()
                peak = max(peak, Self.residentBytes(of: pid) ?? 0)
                try await Task.sleep(for: .milliseconds(20))
            }
            sent.wait()
            figures.withLock {
                $0.peak = peak
                $0.dropped = Self.droppedReplies(in: server.errors)
            }
            leave.signal()
            while left.withLock({ $0 == nil }) { try await Task.sleep(for: .milliseconds(20)) }
            try left.withLock { $0! }.get()
            // The queue is released once the client is gone, and its memory handed back; poll
            // until the resident memory is back at the baseline (within the slack).
            let deadline = ContinuousClock.now + .seconds(20)
            var after = Self.residentBytes(of: pid) ?? .max
            while after > baseline + afterSlack, ContinuousClock.now < deadline {
                try await round()
                try await Task.sleep(for: .milliseconds(100))
                after = Self.residentBytes(of: pid) ?? .max
            }
            figures.withLock { $0.after = after }
            try await round()
            return "worked beside a client that never reads"
        }
        try await node.run()

        let result = figures.withLock { $0 }
        let megabytes = { (bytes: Int) in "\(bytes >> 20) MiB" }
        #expect(result.wrong.isEmpty, "\(result.wrong)")
        #expect(result.rounds >= 3)
        #expect(result.dropped > 0, "server log:\n\(server.errors.suffix(2000))")
        // The client's queue was emptied and forgotten once it left.
        #expect(server.errors.contains("server-0 has no reply queued any more for 1 peer(s) whose replies it dropped"))
        #expect(
            result.peak < result.baseline + replyBudget + slack,
            "peak \(megabytes(result.peak)) from a baseline of \(megabytes(result.baseline)) (reply budget \(megabytes(replyBudget)), slack \(megabytes(slack)))")
        #expect(
            result.after <= result.baseline + afterSlack,
            "\(megabytes(result.after)) after the client left, from a baseline of \(megabytes(result.baseline)) (slack \(megabytes(afterSlack))), peak \(megabytes(result.peak))")
        #expect(try await manager.waitForExit(within: .seconds(30)) == 0)
        #expect(try await server.waitForExit(within: .seconds(30)) == 0, "server: \(server.errors.suffix(1000))")
        print("silent peer: baseline \(megabytes(result.baseline)), peak \(megabytes(result.peak)), after \(megabytes(result.after)), \(result.dropped)+ replies dropped, \(result.rounds) worker rounds")
    }

    @Test("1,000 pushes from 1,000 sender ids the node table does not list: the server holds what its limit allows, answers busy to the rest and notRegistered to the held ones later; a worker stays exact")
    func unknownSenderFlood() async throws {
        let limitRequests = 100
        let limitBytes = 1 << 20
        let keysPerPush = 1000
        let pushes = 1000
        let directory = try ClusterSupport.temporaryDirectory("unknown-senders")
        let topology = try ClusterSupport.writeTopology(
            in: directory, servers: 1, workers: 1, keySpace: Self.keySpace, tables: [("weights", 1)],
            deadlines: "  startup: 60s\n  heartbeat_timeout: 5s\n",
            extra: "peer_limits: { unknown_sender_requests: \(limitRequests), unknown_sender_bytes: \(limitBytes) }")
        let (manager, managerEndpoint) = try await NodeProcess.startManager(topology: topology, directory: directory)
        let server = try NodeProcess.start("server", rank: 0, topology: topology, manager: managerEndpoint, directory: directory)
        defer { manager.kill(); server.kill() }
        let settings = try ClusterSupport.workerSettings(topology: topology, rank: 0, manager: managerEndpoint)
        let codes = Mutex<[UInt64: ErrorCode]>([:])
        let pulled = Mutex<[Float]>([])
        let floodKeys = (0..<UInt64(keysPerPush)).map { $0 * 7 }
        let node = WorkerNode(settings: settings, logger: ClusterSupport.logger) { worker in
            let table = try await worker.waitUntilRegistered()
            let serverEndpoint = try #require(table.nodes(withRole: .server).first?.endpoint)
            let outcome: Result<[UInt64: ErrorCode], any Error> = await withCheckedContinuation { continuation in
                let thread = Thread {
                    continuation.resume(returning: Result {
                        try Self.floodFromUnknownSenders(serverEndpoint, pushes: pushes, keys: floodKeys)
                    })
                }
                thread.start()
            }
            codes.withLock { $0 = (try? outcome.get()) ?? [:] }
            _ = try outcome.get()
            try await worker.push(table: 0, keys: Self.servedKeys, values: Self.servedKeys.map { Float($0) + 0.5 })
            try await worker.waitForAll()
            let values = try await worker.pull(table: 0, keys: Set(floodKeys + Self.servedKeys).sorted())
            pulled.withLock { $0 = values }
            return "flooded from unknown senders"
        }
        try await node.run()

        // Each push holds 12 bytes per key (8 of key, 4 of value); the pool takes as many as fit.
        let pushBytes = keysPerPush * 12
        let held = min(limitRequests, limitBytes / pushBytes)
        let replies = codes.withLock { $0 }
        #expect(replies.count == pushes)
        let histogram = Dictionary(grouping: replies.values, by: { $0 }).mapValues(\.count)
        #expect(histogram == [.busy: pushes - held, .notRegistered: held], "\(histogram)")
        // The first `held` senders were held, every later one refused at once.
        #expect(replies.filter { $0.value == .notRegistered }.keys.sorted() == Array(1...UInt64(held)))
        // Nothing the flood sent was applied; the worker's push was, once.
        let expected = Set(floodKeys + Self.servedKeys).sorted().map { key in Self.servedKeys.contains(key) ? Float(key) + 0.5 : 0 }
        #expect(pulled.withLock { $0 } == expected)
        #expect(try await manager.waitForExit(within: .seconds(30)) == 0)
        #expect(try await server.waitForExit(within: .seconds(30)) == 0, "server: \(server.errors.suffix(1000))")
    }

    /// Sends `pushes` pushes of `keys`, push `i` (1-based) from sender id 1000 + i with request id
    /// `i`, all at once from a raw DEALER; then reads one reply per push. Returns each reply's
    /// error code by request id.
    static func floodFromUnknownSenders(_ endpoint: String, pushes: Int, keys: [UInt64]) throws -> [UInt64: ErrorCode] {
        let context = try Context()
        defer { try? context.terminate() }
        let socket = try Socket(.dealer, context: context)
        try socket.set(.linger, to: 0)
        try socket.set(.receiveTimeout, to: 20_000)
        try socket.connect(to: endpoint)
        let values = keys.map { _ in Float(1000) }
        for index in 1...UInt64(pushes) {
            let header = Header(
                kind: .push, sender: NodeID(UInt32(1000 + index)), requestID: index, table: 0, timestamp: 1,
                keyCount: UInt32(keys.count), valueLength: 1)
            try socket.send([HeaderCodec.encode(header), Frame(array: keys), Frame(array: values)])
        }
        var codes: [UInt64: ErrorCode] = [:]
        while codes.count < pushes {
            guard let frames = try socket.receiveMultipart() else {
                throw ClusterTestError("the server answered \(codes.count) of \(pushes) pushes within 20 s of the last")
            }
            let header = try HeaderCodec.decode(frames[0])
            codes[header.requestID] = header.errorCode ?? .internalError
        }
        return codes
    }
}
