import Foundation
import ParameterServer
import Synchronization
import Testing

/// Communication filters and range functions between an in-process worker and real server
/// processes (docs/PROTOCOL.md sections 13 and 14).
@Suite("Filters and range functions on a cluster", .serialized)
struct FilterClusterTests {
    static let keySpace = 1_000

    /// Two servers, one worker; table 0 caches keys (1 KiB per peer on the servers: one list of
    /// 125 keys) and compresses frames of 256 bytes and more; table 1 uses no filter.
    static func writeTopology(in directory: URL) throws -> String {
        let yaml = """
            name: filters
            manager: { host: 127.0.0.1, port: 0 }
            servers: { count: 2, host: 127.0.0.1, port: 0 }
            workers: { count: 1, host: 127.0.0.1, port: 0 }
            key_space: \(keySpace)
            tables:
              - name: cached
                id: 0
                value_length: 1
                updater: add
                filters: { key_caching: true, key_cache_bytes: 1024, compression: true, compression_threshold: 256 }
              - { name: plain, id: 1, value_length: 1, updater: add }
            deadlines:
              startup: 60s
            application:
              kind: pushpull

            """
        let path = directory.appendingPathComponent("topology.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Runs `body` as the only worker of a fresh two-server cluster; `adjust` changes its settings.
    /// Returns what the servers wrote to standard error once the job is over and they exited.
    @discardableResult
    static func withCluster(
        _ name: String, adjust: (inout NodeSettings) -> Void = { _ in },
        _ body: @escaping @Sendable (Worker) async throws -> Void
    ) async throws -> [String] {
        let directory = try ClusterSupport.temporaryDirectory(name)
        let topology = try writeTopology(in: directory)
        let (manager, endpoint) = try await NodeProcess.startManager(topology: topology, directory: directory)
        let servers = try (0..<2).map { try NodeProcess.start("server", rank: $0, topology: topology, manager: endpoint, directory: directory) }
        defer { for process in [manager] + servers { process.kill() } }
        var settings = try ClusterSupport.workerSettings(topology: topology, rank: 0, manager: endpoint)
        adjust(&settings)
        let node = WorkerNode(settings: settings, logger: ClusterSupport.logger) { worker in
            _ = try await worker.waitUntilRegistered()
            try await body(worker)
            return "done"
        }
        try await node.run()
        for server in servers { _ = try await server.waitForExit(within: .seconds(30)) }
        return servers.map(\.errors)
    }

    /// Minibatch A holds keys 0, 4, 8, …; B holds 1, 5, 9, …: 125 keys (1,000 bytes) per server each.
    static let minibatches: [[UInt64]] = [
        Array(stride(from: 0, to: UInt64(keySpace), by: 4)), Array(stride(from: 1, to: UInt64(keySpace), by: 4)),
    ]
    /// Which minibatch each round uses: repeats (sent by hash) and switches back (the server evicted
    /// the other list meanwhile, so the hash misses and the keys go again).
    static let schedule = [0, 0, 0, 1, 1, 0, 1, 0, 0, 1]

    static func value(_ key: UInt64, round: Int) -> Float { Float(key % 7) + Float(round) }

    @Test("Cached keys and compression are lossless: every pull is exactly the running sum, misses included; fewer bytes go out")
    func keyCachingAndCompressionAreExact() async throws {
        let outcome = Mutex<(mismatches: Int, traffic: WorkerTraffic)>((0, WorkerTraffic()))
        // The worker believes the servers keep 1 MiB of lists, they keep 1 KiB: after each switch
        // of minibatch the list it sends by hash has been evicted there.
        let serverLogs = try await Self.withCluster("filters-exact", adjust: { $0.tables[0].filters.keyCacheBytes = 1 << 20 }) { worker in
            var sums = [Float](repeating: 0, count: Self.keySpace)
            var mismatches = 0
            for (round, batch) in Self.schedule.enumerated() {
                let keys = Self.minibatches[batch]
                // One request at a time, so that which list each server holds is certain.
                try await worker.wait(worker.push(table: 0, keys: keys, values: keys.map { Self.value($0, round: round) }))
                for key in keys { sums[Int(key)] += Self.value(key, round: round) }
                let pulled = try await worker.pull(table: 0, keys: keys)
                mismatches += zip(pulled, keys.map { sums[Int($0)] }).filter { $0 != $1 }.count
                #expect(pulled.count == keys.count)
            }
            try await worker.waitForAll()
            let all = try await worker.pull(table: 0, keys: (0..<UInt64(Self.keySpace)).map { $0 })
            mismatches += zip(all, sums).filter { $0 != $1 }.count
            let traffic = try await worker.traffic()
            outcome.withLock { $0 = (mismatches, traffic) }
        }
        let (mismatches, traffic) = outcome.withLock { $0 }
        let report = traffic.report
        let resends = traffic.keyCacheResends
        #expect(mismatches == 0)
        let caching = try #require(report.sent[.keyCaching])
        let compression = try #require(report.sent[.compression])
        // Switches back to a list the server evicted: the pushes of rounds 5 (A), 6 (B), 7 (A) and
        // 9 (B), on both servers; the resend's reply confirms the list again before the pull.
        #expect(report.keyCacheMisses == 8)
        #expect(resends == 8)
        // Every push and pull (two servers each), the final pull and the resends passed the key-caching stage.
        #expect(caching.messages == 2 * 2 * Self.schedule.count + 2 + resends)
        #expect(caching.bytesAfter < caching.bytesBefore)
        #expect(compression.bytesAfter < compression.bytesBefore)
        #expect(compression.bytesAfter < caching.bytesAfter)
        // The worker's own count of what it sent agrees with the stages'.
        #expect(traffic.requests == caching.messages)
        #expect(traffic.plainBytesSent == caching.bytesBefore)
        #expect(traffic.bytesSent == compression.bytesAfter)

        // Each server logs what its filters did when it stops; together they received what the worker sent.
        let received = serverLogs.flatMap { Self.filterFigures($0, "received compression") }
        #expect(received.count == 2, "one line per server: \(serverLogs)")
        // (A server counts the messages that arrived compressed; the worker every one the stage saw.)
        #expect(received.reduce(0) { $0 + $1.messages } > 0)
        #expect(received.reduce(0) { $0 + $1.bytesBefore } == compression.bytesAfter)
        #expect(received.reduce(0) { $0 + $1.bytesAfter } == compression.bytesBefore)
    }

    /// The figures of the `<server> filters: <stage>: …` lines of a server's log.
    static func filterFigures(_ log: String, _ stage: String) -> [FilterStatistics] {
        log.split(separator: "\n").compactMap { line -> FilterStatistics? in
            guard let range = line.range(of: "filters: \(stage): ") else { return nil }
            let numbers = line[range.upperBound...].split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
            guard numbers.count == 5 else { return nil }
            var figures = FilterStatistics()
            figures.record(bytesBefore: numbers[1], bytesAfter: numbers[2], keysBefore: numbers[3], keysAfter: numbers[4])
            figures.messages = numbers[0]
            return figures
        }
    }

    @Test("Significantly modified: small changes wait on the worker until waitForAll pushes them, summed")
    func significantlyModifiedFlush() async throws {
        let outcome = Mutex<(held: [Float], flushed: [Float])>(([], []))
        // A value filter runs on the worker only, so the servers' topology need not name it.
        try await Self.withCluster("filters-flush", adjust: { $0.tables[1].filters.significantlyModifiedThreshold = 2.5 }) { worker in
            try await worker.wait(worker.push(table: 1, keys: [10, 20, 600], values: [1, 3, -1]))
            try await worker.wait(worker.push(table: 1, keys: [10, 600], values: [1, 0.5]))
            // 20 went out at once (3 > 2.5); 10 (1 + 1) and 600 (-1 + 0.5) are still held back.
            let held = try await worker.pull(table: 1, keys: [10, 20, 600])
            try await worker.waitForAll()
            let flushed = try await worker.pull(table: 1, keys: [10, 20, 600])
            outcome.withLock { $0 = (held, flushed) }
        }
        let (held, flushed) = outcome.withLock { $0 }
        #expect(held == [0, 3, 0])
        #expect(flushed == [2, 3, -0.5])
    }

    @Test("KKT: gradients of zero weights wait on the worker until their sum exceeds λ; waitForAll pushes the rest")
    func kktHoldsUntilSignificant() async throws {
        let outcome = Mutex<[[Float]]>([])
        try await Self.withCluster("filters-kkt", adjust: { $0.tables[1].filters.kktLambda = 1 }) { worker in
            let keys: [UInt64] = [10, 20, 600]
            var pulls = [try await worker.pull(table: 1, keys: keys)]
            // 20 goes out (|3| > 1); 10 and 600 have zero weights and small gradients: held.
            try await worker.wait(worker.push(table: 1, keys: keys, values: [0.5, 3, -0.75]))
            pulls.append(try await worker.pull(table: 1, keys: keys))
            // 10: 0.5 + 0.25 still ≤ 1, held; 20 has a weight now, sent; 600: -0.75 + 0.5, held.
            try await worker.wait(worker.push(table: 1, keys: keys, values: [0.25, 0.5, 0.5]))
            pulls.append(try await worker.pull(table: 1, keys: keys))
            // 10: 0.75 + 0.5 > 1, the sum goes out.
            try await worker.wait(worker.push(table: 1, keys: [10], values: [0.5]))
            pulls.append(try await worker.pull(table: 1, keys: keys))
            try await worker.waitForAll()
            pulls.append(try await worker.pull(table: 1, keys: keys))
            outcome.withLock { $0 = pulls }
        }
        let pulls = outcome.withLock { $0 }
        #expect(pulls == [[0, 0, 0], [0, 3, 0], [0, 3.5, 0], [1.25, 3.5, 0], [1.25, 3.5, -0.25]])
    }

    @Test("Range functions over the wire: scale and set on ranges across both servers, exact values; unknown names refused")
    func rangeFunctionsAreExact() async throws {
        let outcome = Mutex<(values: [Float], error: RequestError?)>(([], nil))
        try await Self.withCluster("filters-functions") { worker in
            let keys = (0..<UInt64(Self.keySpace)).map { $0 }
            try await worker.push(table: 1, keys: keys, values: keys.map { Float($0 % 10) + 1 })
            let scaled = try worker.applyFunction(table: 1, range: KeyRange(100, 700), name: "scale", arguments: [2])
            try await worker.wait(scaled)
            try await worker.wait(try worker.applyFunction(table: 1, range: KeyRange(900, 950), name: "set", arguments: [-3]))
            try await worker.wait(try worker.applyFunction(table: 1, range: KeyRange(650, 660), name: "proximal_l1", arguments: [5]))
            var refused: RequestError?
            do {
                try await worker.wait(try worker.applyFunction(table: 1, range: KeyRange(0, 10), name: "double", arguments: []))
            } catch let error as RequestError {
                refused = error
            }
            let values = try await worker.pull(table: 1, keys: keys)
            outcome.withLock { $0 = (values, refused) }
        }
        let (values, refused) = outcome.withLock { $0 }
        var expected = (0..<Self.keySpace).map { Float($0 % 10) + 1 }
        for key in 100..<700 { expected[key] *= 2 }
        for key in 900..<950 { expected[key] = -3 }
        for key in 650..<660 { expected[key] = max(expected[key] - 5, 0) }
        #expect(values == expected)
        #expect(refused?.code == .unknownFunction)
    }
}
