import Logging
import Testing

@testable import ParameterServer

/// The application's ``Worker`` API on the in-memory network: the same calls a ``WorkerNode``
/// application makes over ZeroMQ, against the real manager and server logic under fake time.
@Suite("Worker API on the in-memory network", .timeLimit(.minutes(1)))
struct InMemoryWorkerTests {
    static let keySpace = KeyRange(0, 600)
    static let deadlines = Deadlines(
        startup: .seconds(10), request: .seconds(20), barrier: .seconds(10), shutdown: .seconds(2),
        heartbeatInterval: .milliseconds(200), heartbeatTimeout: .seconds(1), job: .seconds(600))

    static var logger: Logger {
        var logger = Logger(label: "zps.test.worker-api")
        logger.logLevel = .critical
        return logger
    }

    /// A manager and `servers` servers on a network thread, and the handles of `workers` workers.
    static func start(
        servers: Int, workers: Int, replication: Int = 0, table: TableSpec, seed: UInt64
    ) async -> (InMemoryNetworkThread, [Worker]) {
        let thread = InMemoryNetworkThread(seed: seed, shuffled: true)
        var managerSettings = ManagerSettings(
            bindEndpoint: "mem://manager", servers: servers, workers: workers, keySpace: keySpace, deadlines: deadlines)
        managerSettings.replication = replication
        let logger = Self.logger
        func settings(_ role: NodeRole, _ rank: Int) -> NodeSettings {
            NodeSettings(
                role: role, rank: rank, managerEndpoint: "mem://manager", bindEndpoint: "mem://\(role)-\(rank)",
                tables: [table], deadlines: deadlines)
        }
        let serverSettings = (0..<servers).map { settings(.server, $0) }
        await thread.run { [managerSettings] network in
            network.add(ManagerCore(settings: managerSettings, logger: logger) { _ in }, endpoint: "mem://manager")
            for (rank, settings) in serverSettings.enumerated() {
                network.add(ServerCore(settings: settings, outcome: NodeOutcome(), logger: logger), endpoint: "mem://server-\(rank)")
            }
        }
        var handles: [Worker] = []
        for rank in 0..<workers {
            handles.append(await thread.addWorker(settings: settings(.worker, rank), endpoint: "mem://worker-\(rank)", logger: logger))
        }
        return (thread, handles)
    }

    /// Worker `rank`'s push of round `round`: distinct values for every key and component.
    static func values(_ rank: Int, _ round: Int, keys: [UInt64], valueLength: Int) -> [Float] {
        keys.flatMap { key in (0..<valueLength).map { Float(rank * 100 + round * 10 + Int(key % 7) + $0) } }
    }

    /// The sum, for every key and component, of the pushes of `rounds` rounds by every worker.
    static func sums(workers: Int, rounds: Range<Int>, keys: [UInt64], valueLength: Int) -> [Float] {
        var total = [Float](repeating: 0, count: keys.count * valueLength)
        for rank in 0..<workers {
            for round in rounds {
                for (index, value) in values(rank, round, keys: keys, valueLength: valueLength).enumerated() { total[index] += value }
            }
        }
        return total
    }

    @Test("two workers push, meet at a barrier, scale with a server function and pull exact sums", arguments: [1, 2, 3] as [UInt64])
    func pushBarrierFunctionPull(seed: UInt64) async throws {
        let table = TableSpec(name: "weights", id: 0, valueLength: 2, consistency: .eventual)
        let (thread, workers) = await Self.start(servers: 2, workers: 2, table: table, seed: seed)
        defer { thread.stop() }
        let keys = (0..<UInt64(600)).filter { $0 % 5 != 2 }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (rank, worker) in workers.enumerated() {
                group.addTask {
                    _ = try await worker.waitUntilRegistered()
                    for round in 0..<4 {
                        try await worker.push(table: 0, keys: keys, values: Self.values(rank, round, keys: keys, valueLength: 2))
                    }
                    try await worker.waitForAll()
                    try await worker.barrier("pushed")
                }
            }
            try await group.waitForAll()
        }
        let scaled = try workers[0].applyFunction(table: 0, range: Self.keySpace, name: "scale", arguments: [2])
        try await workers[0].wait(scaled)
        let pulled = try await workers[1].pull(table: 0, keys: keys, consistency: .sequential)
        let expected = Self.sums(workers: 2, rounds: 0..<4, keys: keys, valueLength: 2).map { 2 * $0 }
        #expect(pulled == expected)
    }

    @Test("a server killed while pushes are in flight loses and doubles nothing, with replication 1", arguments: [1, 2, 3, 4] as [UInt64])
    func failoverUnderTheWorkerAPI(seed: UInt64) async throws {
        let table = TableSpec(name: "weights", id: 0, valueLength: 1, consistency: .eventual)
        let (thread, workers) = await Self.start(servers: 3, workers: 2, replication: 1, table: table, seed: seed)
        defer { thread.stop() }
        let keys = (0..<UInt64(600)).filter { $0 % 3 != 1 }
        for worker in workers { _ = try await worker.waitUntilRegistered() }
        // Messages wait up to 30 ms of fake time, so that pushes are in flight at the kill.
        await thread.run { $0.maximumDelay = .milliseconds(30) }
        for round in 0..<6 {
            for (rank, worker) in workers.enumerated() {
                try await worker.push(table: 0, keys: keys, values: Self.values(rank, round, keys: keys, valueLength: 1))
            }
            if round == 2 { await thread.run { $0.kill("mem://server-\(Int(seed) % 3)") } }
            await thread.run { $0.advance(by: .milliseconds(10)) }
        }
        // Long enough for the manager to notice the death and every node to act on the new table.
        await thread.run { $0.advance(by: .seconds(2)) }
        for worker in workers { try await worker.waitForAll() }
        await thread.run { $0.maximumDelay = .zero }
        let pulled = try await workers[0].pull(table: 0, keys: keys, consistency: .sequential)
        let expected = Self.sums(workers: 2, rounds: 0..<6, keys: keys, valueLength: 1)
        let wrong = keys.indices.filter { pulled[$0] != expected[$0] }
        #expect(pulled.count == expected.count)
        #expect(wrong.isEmpty, "\(wrong.count) keys wrong, the first \(wrong.first.map { "key \(keys[$0]): \(pulled[$0]) for \(expected[$0])" } ?? "")")
    }
}
