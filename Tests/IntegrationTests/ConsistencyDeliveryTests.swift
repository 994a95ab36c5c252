import Foundation
import ParameterServer
import Synchronization
import Testing
import ZeroMQ

extension ConsistencyIntegrationTests {
    /// A registered client talks to a server process with a raw DEALER and delivers its requests out of
    /// order and twice: the server applies them once each, in request-id order, and answers retries again.
    @Suite("Ordered, exactly-once delivery")
    struct ConsistencyDeliveryTests {
        static let keySpace = 100

        /// What the raw client saw.
        struct Seen: Sendable {
            /// Reply kinds and ids, in arrival order.
            var replies: [String] = []
            var pulled: [[Float]] = []
            var clocks: [[Int64]?] = []
            var me = NodeID.unassigned
        }

        @Test("requests that arrive early wait for the gap; retries are answered and not applied again")
        func reorderedAndRepeated() async throws {
            let (manager, server, endpoint, settings) = try await ClusterSupport.startOneServer("delivery", keySpace: Self.keySpace)
            defer { manager.kill(); server.kill() }
            let seen = Mutex(Seen())
            let pulledByWorker = Mutex<[Float]>([])
            let node = WorkerNode(settings: settings, logger: ClusterSupport.logger) { worker in
                let table = try await worker.waitUntilRegistered()
                let serverEndpoint = try #require(table.nodes(withRole: .server).first?.endpoint)
                let outcome: Result<Seen, any Error> = await withCheckedContinuation { continuation in
                    let thread = Thread {
                        continuation.resume(returning: Result { try Self.converse(manager: endpoint, server: serverEndpoint) })
                    }
                    thread.start()
                }
                seen.withLock { $0 = (try? outcome.get()) ?? Seen() }
                _ = try outcome.get()
                let values = try await worker.pull(table: 0, keys: [1, 2, 3])
                pulledByWorker.withLock { $0 = values }
                return "checked delivery"
            }
            try await node.run()

            let result = seen.withLock { $0 }
            // Push 2 waited for push 1; each retry got its answer again; pull 5 waited for push 4.
            // Push 6 and its retry were answered twice and applied once.
            #expect(result.replies == [
                "pushAck 1", "pushAck 2", "pushAck 2", "pushAck 1", "pullReply 3", "pushAck 4", "pullReply 5",
                "pushAck 6", "pushAck 6", "pullReply 7",
            ])
            // In id order: key 1 = 0 + 3 (push 1, add), then = 5 (push 2, assign); key 2 = 7, pushed
            // once; key 3 = 1 (push 4), then 1 + 2 (push 6).
            #expect(result.pulled == [[5, 7], [1], [3]])
            // The clock of keys [1, 3) shows push 1 (timestamp 1) everywhere, push 2 (timestamp 2) only on key 1.
            let me = Int(result.me.rawValue)
            #expect(result.clocks.count == 3)
            #expect(result.clocks.first??.count ?? 0 > me)
            #expect(result.clocks.first??[me] == 1)
            #expect(result.clocks.dropFirst().first??[me] == 4)
            #expect(result.clocks.last??[me] == 6)
            #expect(pulledByWorker.withLock { $0 } == [5, 7, 3])
            #expect(try await manager.waitForExit(within: .seconds(30)) == 0)
            #expect(try await server.waitForExit(within: .seconds(30)) == 0, "server: \(server.errors.suffix(1000))")
        }

        @Test("a BSP pull held past the retry interval is sent again, answered once, and its callback runs")
        func heldPullIsRetried() async throws {
            let directory = try ClusterSupport.temporaryDirectory("retry")
            let topology = try ClusterSupport.writeTopology(
                in: directory, servers: 1, workers: 2, keySpace: 10, tables: [("sums", 1)],
                deadlines: "  startup: 60s\n  request: 12s\n", consistency: "bsp")
            let (manager, endpoint) = try await NodeProcess.startManager(topology: topology, directory: directory)
            let server = try NodeProcess.start("server", rank: 0, topology: topology, manager: endpoint, directory: directory)
            defer { manager.kill(); server.kill() }

            let firstRetried = Mutex(false)
            let retries = Mutex(0)
            let callbackSawValues = Mutex(false)
            let pulled = Mutex<[Int: [Float]]>([:])
            try await withThrowingTaskGroup(of: Void.self) { group in
                for rank in 0..<2 {
                    let settings = try ClusterSupport.workerSettings(topology: topology, rank: rank, manager: endpoint)
                    let node = WorkerNode(settings: settings, logger: ClusterSupport.logger) { worker in
                        _ = try await worker.waitUntilRegistered()
                        try await worker.barrier("go")
                        if rank == 0 {
                            try await worker.push(table: 0, keys: [1, 2], values: [1, 2], iteration: 0)
                            let pull = try worker.submitPull(table: 0, keys: [1, 2], iteration: 0)
                            try worker.whenFinished(pull.timestamp) { error in
                                callbackSawValues.withLock { $0 = error == nil && pull.isFinished }
                            }
                            // The pull is held until worker 1 pushes, which it does once this pull was retried.
                            let deadline = ContinuousClock.now + .seconds(30)
                            while try await worker.retriedRequestCount() == 0, ContinuousClock.now < deadline {
                                try await Task.sleep(for: .milliseconds(20))
                            }
                            firstRetried.withLock { $0 = true }
                            let values = try await pull.values().values
                            let count = try await worker.retriedRequestCount()
                            retries.withLock { $0 = count }
                            pulled.withLock { $0[rank] = values }
                        } else {
                            let deadline = ContinuousClock.now + .seconds(30)
                            while !firstRetried.withLock({ $0 }), ContinuousClock.now < deadline {
                                try await Task.sleep(for: .milliseconds(20))
                            }
                            try await worker.push(table: 0, keys: [1, 2], values: [10, 20], iteration: 0)
                            let values = try await worker.pull(table: 0, keys: [1, 2], iteration: 0)
                            pulled.withLock { $0[rank] = values }
                        }
                        return "done"
                    }
                    group.addTask { try await node.run() }
                }
                try await group.waitForAll()
            }
            #expect(retries.withLock { $0 } >= 1)
            #expect(pulled.withLock { $0 } == [0: [11, 22], 1: [11, 22]])
            #expect(callbackSawValues.withLock { $0 })
            #expect(try await manager.waitForExit(within: .seconds(30)) == 0)
            #expect(try await server.waitForExit(within: .seconds(30)) == 0, "server: \(server.errors.suffix(1000))")
            #expect(!server.errors.contains("rejected a request"), "server: \(server.errors.suffix(1000))")
        }

        @Test("a BSP iteration completes on a server that some workers have no keys for")
        func bspWithDisjointServers() async throws {
            let directory = try ClusterSupport.temporaryDirectory("bsp-empty")
            let topology = try ClusterSupport.writeTopology(
                in: directory, servers: 2, workers: 2, keySpace: 10, tables: [("sums", 1)],
                deadlines: "  startup: 60s\n", consistency: "bsp")
            let (manager, endpoint) = try await NodeProcess.startManager(topology: topology, directory: directory)
            let servers = try (0..<2).map { try NodeProcess.start("server", rank: $0, topology: topology, manager: endpoint, directory: directory) }
            defer { for process in [manager] + servers { process.kill() } }

            let pulled = Mutex<[Int: [[Float]]]>([:])
            try await withThrowingTaskGroup(of: Void.self) { group in
                for rank in 0..<2 {
                    let settings = try ClusterSupport.workerSettings(topology: topology, rank: rank, manager: endpoint)
                    let node = WorkerNode(settings: settings, logger: ClusterSupport.logger) { worker in
                        _ = try await worker.waitUntilRegistered()
                        // Worker 0 only has a key on server 0 ([0, 5)), worker 1 only on server 1 ([5, 10)).
                        let key: UInt64 = rank == 0 ? 1 : 7
                        var reads: [[Float]] = []
                        for iteration in 0..<3 {
                            try await worker.push(table: 0, keys: [key], values: [Float(rank + 1)], iteration: Int64(iteration))
                            reads.append(try await worker.pull(table: 0, keys: [1, 7], iteration: Int64(iteration)))
                        }
                        pulled.withLock { $0[rank] = reads }
                        return "done"
                    }
                    group.addTask { try await node.run() }
                }
                try await group.waitForAll()
            }
            let expected: [[Float]] = [[1, 2], [2, 4], [3, 6]]
            #expect(pulled.withLock { $0 } == [0: expected, 1: expected])
            #expect(try await manager.waitForExit(within: .seconds(30)) == 0)
            for server in servers {
                #expect(try await server.waitForExit(within: .seconds(30)) == 0, "\(server.name): \(server.errors.suffix(1000))")
            }
        }

        /// Registers as a client, then sends the scripted requests and reads the replies.
        static func converse(manager: String, server: String) throws -> Seen {
            let context = try Context()
            defer { try? context.terminate() }
            let managerSocket = try Socket(.dealer, context: context)
            let serverSocket = try Socket(.dealer, context: context)
            try managerSocket.set(.linger, to: 0)
            try managerSocket.set(.receiveTimeout, to: 10_000)
            try serverSocket.set(.linger, to: 0)
            try serverSocket.set(.receiveTimeout, to: 10_000)
            // One routing id on both connections: the server accepts the client's requests only from
            // the connection of the id it registered with (docs/PROTOCOL.md, section 7.8).
            let routingID: [UInt8] = [0xC1] + Array("delivery-test".utf8)
            try managerSocket.set(.routingID, to: routingID)
            try serverSocket.set(.routingID, to: routingID)
            try managerSocket.connect(to: manager)
            try serverSocket.connect(to: server)

            var seen = Seen()
            let name = "delivery-test-client"
            let register = Header(kind: .register, requestID: 1, role: .client, rank: 0, endpoint: name)
            try managerSocket.send(MessageCodec.encode(Message(header: register)))
            guard let frames = try managerSocket.receiveMultipart() else { throw ClusterTestError("the manager did not answer") }
            let table = try MessageCodec.decode(frames).header.nodeTable
            guard let me = table?.nodes.first(where: { $0.role == .client && $0.endpoint == name })?.id else {
                throw ClusterTestError("the manager did not admit the client: \(try MessageCodec.decode(frames).header)")
            }
            seen.me = me

            func send(_ kind: MessageKind, id: UInt64, keys: [UInt64], values: [Float]? = nil, updater: String? = nil, retry: Bool = false) throws {
                var flags: MessageFlags = retry ? [.retry] : []
                if kind == .pull { flags.insert(.wantClock) }
                let header = Header(
                    kind: kind, sender: me, requestID: id, table: 0, timestamp: Int64(id), flags: flags,
                    keyCount: UInt32(keys.count), valueLength: 1, updater: updater)
                try serverSocket.send(MessageCodec.encode(Message(header: header, keys: Frame(array: keys), values: values.map { Frame(array: $0) })))
            }
            func receive(_ count: Int) throws {
                for _ in 0..<count {
                    guard let frames = try serverSocket.receiveMultipart() else { throw ClusterTestError("the server did not answer") }
                    let reply = try MessageCodec.decode(frames)
                    seen.replies.append("\(reply.header.kind) \(reply.header.requestID)")
                    if reply.header.kind == .pullReply, let values = reply.values {
                        seen.pulled.append(PayloadFrame<Float>(values).elements)
                        seen.clocks.append(reply.header.clock)
                    }
                    if reply.header.kind == .error { seen.replies.append(reply.header.errorMessage ?? "") }
                }
            }

            try send(.push, id: 2, keys: [1], values: [5], updater: "assign")
            try send(.push, id: 1, keys: [1, 2], values: [3, 7])
            try receive(2)
            try send(.push, id: 2, keys: [1], values: [5], updater: "assign", retry: true)
            try receive(1)
            try send(.push, id: 1, keys: [1, 2], values: [3, 7], retry: true)
            try receive(1)
            try send(.pull, id: 3, keys: [1, 2])
            try receive(1)
            try send(.pull, id: 5, keys: [3])
            try send(.push, id: 4, keys: [3], values: [1])
            try receive(2)
            // In order with nothing waiting: served on the direct path, and its retry answered from
            // what that path kept.
            try send(.push, id: 6, keys: [3], values: [2])
            try receive(1)
            try send(.push, id: 6, keys: [3], values: [2], retry: true)
            try receive(1)
            try send(.pull, id: 7, keys: [3])
            try receive(1)
            return seen
        }
    }
}
