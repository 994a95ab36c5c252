import Foundation
import Logging
import ParameterServer
import Synchronization
import Testing

/// Real clusters on loopback: a manager and servers as separate `zps` processes, workers either as
/// processes or in this test process (so the test can check every pulled value itself).
@Suite("Multi-process cluster", .serialized)
struct ClusterPushPullTests {
    static let keyCount = 1_000_000
    static let workerCount = 3
    static let rounds = 2
    static let tables: [(name: String, valueLength: Int)] = [("weights", 1), ("embeddings", 3)]

    /// Whether worker `w` pushes key `k`: most keys get pushes from two workers, some from all three.
    static func pushes(_ w: Int, _ k: Int) -> Bool { (k + w) % 3 != 0 || k % 5 == 0 }

    static func value(_ w: Int, _ k: Int, _ round: Int, _ j: Int) -> Float { Float((w + 1) * (k % 7 + 1) + round + 2 * j) }

    /// Worker `w`'s pushes, in the order it sends them: each table, each round, its keys in batches
    /// of 200,000.
    static func pushBatches(_ w: Int) -> [(table: UInt32, keys: [UInt64], values: [Float])] {
        let mine = (0..<keyCount).filter { pushes(w, $0) }
        var batches: [(table: UInt32, keys: [UInt64], values: [Float])] = []
        for (tableIndex, spec) in tables.enumerated() {
            for round in 0..<rounds {
                for start in stride(from: 0, to: mine.count, by: 200_000) {
                    let batch = mine[start..<min(start + 200_000, mine.count)]
                    var values: [Float] = []
                    values.reserveCapacity(batch.count * spec.valueLength)
                    for k in batch {
                        for j in 0..<spec.valueLength { values.append(value(w, k, round, j)) }
                    }
                    batches.append((UInt32(tableIndex), batch.map(UInt64.init), values))
                }
            }
        }
        return batches
    }

    @Test("2 servers, 3 workers, 1M overlapping keys, 2 tables: every pull, copied or read in place, returns exactly the sum of the pushes")
    func sumsAreExact() async throws {
        let directory = try ClusterSupport.temporaryDirectory("sums")
        let topology = try ClusterSupport.writeTopology(
            in: directory, servers: 2, workers: Self.workerCount, keySpace: Self.keyCount, tables: Self.tables)
        let (manager, endpoint) = try await NodeProcess.startManager(topology: topology, directory: directory)
        let servers = try (0..<2).map { try NodeProcess.start("server", rank: $0, topology: topology, manager: endpoint, directory: directory) }
        defer { for process in [manager] + servers { process.kill() } }

        // What each worker pushes is made, and what it pulls is read, off its I/O thread: a worker's
        // closure runs on its I/O thread, where seconds of the test's own work (in
        // a debug build, on two cores shared by three workers and two servers) would keep the
        // worker from sending heartbeats.
        let pulled = Mutex<[Int: [[Float]]]>([:])
        // Read in place: through the collection's subscript, and copied out by `array`.
        let pulledInPlace = Mutex<[Int: [(elements: [Float], array: [Float])]]>([:])
        let ranges = Mutex<[[KeyRange]]>([])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for rank in 0..<Self.workerCount {
                let settings = try ClusterSupport.workerSettings(topology: topology, rank: rank, manager: endpoint)
                let node = WorkerNode(settings: settings, logger: ClusterSupport.logger) { worker in
                    let table = try await worker.waitUntilRegistered()
                    ranges.withLock { $0 = table.nodes(withRole: .server).map { $0.ranges } }
                    for batch in await Task.detached(operation: { Self.pushBatches(rank) }).value {
                        try await worker.push(table: batch.table, keys: batch.keys, values: batch.values)
                    }
                    try await worker.waitForAll()
                    try await worker.barrier("pushed")
                    var result: [[Float]] = []
                    var inPlace: [(elements: [Float], array: [Float])] = []
                    let keys = (0..<UInt64(Self.keyCount)).map { $0 }
                    for tableIndex in Self.tables.indices {
                        result.append(try await worker.pull(table: UInt32(tableIndex), keys: keys))
                        let floats = try await worker.pullInPlace(table: UInt32(tableIndex), keys: keys)
                        inPlace.append(await Task.detached(operation: { (Array(floats), floats.array) }).value)
                    }
                    pulled.withLock { $0[rank] = result }
                    pulledInPlace.withLock { $0[rank] = inPlace }
                    return "pulled \(Self.keyCount) keys"
                }
                group.addTask { try await node.run() }
            }
            try await group.waitForAll()
        }

        // The servers split the key space between them, in several ranges each, so both took part.
        let serverRanges = ranges.withLock { $0 }
        #expect(serverRanges.count == 2 && serverRanges.allSatisfy { $0.count > 1 })
        let all = serverRanges.flatMap { $0 }.sorted { $0.lowerBound < $1.lowerBound }
        #expect(all.first?.lowerBound == 0 && all.last?.upperBound == UInt64(Self.keyCount))
        #expect(zip(all, all.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        for (tableIndex, spec) in Self.tables.enumerated() {
            var expected = [Float](repeating: 0, count: Self.keyCount * spec.valueLength)
            for k in 0..<Self.keyCount {
                for w in 0..<Self.workerCount where Self.pushes(w, k) {
                    for round in 0..<Self.rounds {
                        for j in 0..<spec.valueLength { expected[k * spec.valueLength + j] += Self.value(w, k, round, j) }
                    }
                }
            }
            for rank in 0..<Self.workerCount {
                let values = pulled.withLock { $0[rank]?[tableIndex] } ?? []
                #expect(values.count == expected.count)
                let mismatches = zip(values, expected).filter { $0 != $1 }.count
                #expect(mismatches == 0, "worker \(rank), table \(spec.name): \(mismatches) values differ from the pushed sums")
                let inPlace = pulledInPlace.withLock { $0[rank]?[tableIndex] }
                #expect(inPlace?.elements == expected, "worker \(rank), table \(spec.name): the floats read in place differ")
                #expect(inPlace?.array == expected, "worker \(rank), table \(spec.name): the floats copied out differ")
            }
        }
        #expect(try await manager.waitForExit(within: .seconds(30)) == 0, "manager: \(manager.errors.suffix(1500))")
        for server in servers {
            #expect(try await server.waitForExit(within: .seconds(30)) == 0, "\(server.name): \(server.errors.suffix(1500))")
        }
    }

    @Test("zps run supervises the default push/pull check to a clean exit")
    func zpsRunFinishes() async throws {
        let directory = try ClusterSupport.temporaryDirectory("run")
        let topology = try ClusterSupport.writeTopology(
            in: directory, servers: 2, workers: 2, keySpace: 1 << 20, tables: Self.tables,
            application: "kind: pushpull\nkeys: 200000\nrounds: 2\nbatch: 50000")
        let json = directory.appendingPathComponent("summary.json").path
        let run = try NodeProcess("run", arguments: ["run", topology, "--json", json], directory: directory)
        defer { run.kill() }
        let status = try await run.waitForExit(within: .seconds(120))
        #expect(status == 0, "zps run: \(run.errors.suffix(2000))")
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any]
        #expect(summary?["succeeded"] as? Bool == true)
        let workers = summary?["workers"] as? [String] ?? []
        #expect(workers.count == 2)
        #expect(workers.allSatisfy { $0.contains("checked 200000 keys of 2 table(s)") && $0.contains("all exact") })
    }
}
