import Foundation
import Logging
import ParameterServer
import Synchronization
import Testing

/// The consistency tests on real clusters, one cluster at a time: every suite of the test run starts
/// its processes at once, and a machine with few cores is slow enough already.
@Suite("Consistency on clusters", .serialized)
struct ConsistencyIntegrationTests {}

extension ConsistencyIntegrationTests {
    /// The slow-worker workload of docs/CONSISTENCY.md on a real cluster: manager and two servers as
    /// `zps` processes, four workers in this process, one of them five times slower, one table per
    /// consistency model.
    @Suite("Consistency models on a cluster")
    struct ConsistencyClusterTests {
        static let keyCount = 1_000
        static let workerCount = 4
        static let slowRank = 3

        /// A table per run: its consistency in the topology, and how many iterations old the values a
        /// worker computes with may be (the program's own bound; `nil`: any).
        struct Run: Sendable {
            var name: String
            var yaml: String
            var staleness: Int?
        }

        /// Bounded delay τ in iterations is `max_delay: 2τ + 1` in tasks: each iteration is a push and a pull.
        static let runs: [Run] = [
            Run(name: "sequential", yaml: "consistency: sequential", staleness: 0),
            Run(name: "bsp", yaml: "consistency: bsp", staleness: 0),
            Run(name: "bounded0", yaml: "consistency: bounded_delay, max_delay: 1", staleness: 0),
            Run(name: "bounded1", yaml: "consistency: bounded_delay, max_delay: 3", staleness: 1),
            Run(name: "bounded4", yaml: "consistency: bounded_delay, max_delay: 9", staleness: 4),
            Run(name: "eventual", yaml: "consistency: eventual", staleness: nil),
        ]

        static func workload(_ run: Run) -> SlowWorkerWorkload {
            SlowWorkerWorkload(
                keyCount: keyCount, iterations: 16, compute: .milliseconds(2), slowdown: 5, slowRank: slowRank,
                staleness: run.staleness)
        }

        /// One range per server (`virtual_nodes: 1`), so that the counters, at both ends of each
        /// server's range, are the four keys the test names.
        static func writeTopology(in directory: URL) throws -> String {
            var yaml = """
                name: consistency
                manager: { host: 127.0.0.1, port: 0 }
                servers: { count: 2, host: 127.0.0.1, port: 0, virtual_nodes: 1 }
                workers: { count: \(workerCount), host: 127.0.0.1, port: 0 }
                key_space: \(keyCount)
                tables:

                """
            for (index, run) in runs.enumerated() {
                yaml += "  - { name: \(run.name), id: \(index), value_length: 1, updater: add, \(run.yaml) }\n"
            }
            yaml += "deadlines:\n  startup: 60s\napplication:\n  kind: pushpull\n"
            let path = directory.appendingPathComponent("topology.yaml").path
            try yaml.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        struct Outcome: Sendable {
            var report: SlowWorkerWorkload.Report
            var final: [Float]
        }

        @Test("4 workers, one 5× slower: sequential and BSP equal the reference, bounded delay τ keeps staleness ≤ τ")
        func slowWorker() async throws {
            let directory = try ClusterSupport.temporaryDirectory("consistency")
            let topology = try Self.writeTopology(in: directory)
            let (manager, endpoint) = try await NodeProcess.startManager(topology: topology, directory: directory)
            let servers = try (0..<2).map { try NodeProcess.start("server", rank: $0, topology: topology, manager: endpoint, directory: directory) }
            defer { for process in [manager] + servers { process.kill() } }

            let loaded = try Topology.load(path: topology)
            let outcomes = Mutex<[String: [Int: Outcome]]>([:])
            let counters = Mutex<[UInt64]>([])
            try await withThrowingTaskGroup(of: Void.self) { group in
                for rank in 0..<Self.workerCount {
                    let settings = NodeSettings(
                        role: .worker, rank: rank, managerEndpoint: endpoint, bindEndpoint: "tcp://127.0.0.1:*",
                        tables: loaded.tables, deadlines: loaded.deadlines)
                    let node = WorkerNode(settings: settings, logger: ClusterSupport.logger) { worker in
                        let nodes = try await worker.waitUntilRegistered()
                        for run in Self.runs {
                            let table = try worker.table(named: run.name)
                            let workload = Self.workload(run)
                            counters.withLock { $0 = workload.counterKeys(serverRanges: nodes.nodes(withRole: .server).flatMap(\.ranges)) }
                            try await worker.barrier("start \(run.name)")
                            let report = try await workload.run(on: worker, table: table, rank: rank)
                            try await worker.waitForAll()
                            try await worker.barrier("done \(run.name)")
                            let final = try await worker.pull(
                                table: table.id, keys: (0..<UInt64(Self.keyCount)).map { $0 }, consistency: .eventual)
                            outcomes.withLock { $0[run.name, default: [:]][rank] = Outcome(report: report, final: final) }
                        }
                        return "ran \(Self.runs.count) models"
                    }
                    group.addTask { try await node.run() }
                }
                try await group.waitForAll()
            }

            let counterKeys = counters.withLock { $0 }
            #expect(counterKeys == [0, 499, 500, 999], "the counters sit at both ends of each server's range")
            let results = outcomes.withLock { $0 }
            for run in Self.runs {
                let workload = Self.workload(run)
                let reference = workload.reference(workers: Self.workerCount, counters: counterKeys)
                let byRank = results[run.name] ?? [:]
                #expect(byRank.count == Self.workerCount, "\(run.name): \(byRank.count) workers reported")
                for (rank, outcome) in byRank.sorted(by: { $0.key < $1.key }) {
                    let report = outcome.report
                    // Every iteration measured staleness from a clock the servers returned.
                    #expect(report.ownPushesMissing.values.reduce(0, +) == workload.iterations, "\(run.name) worker \(rank): \(report.ownPushesMissing)")
                    // Whatever the model, every push was applied exactly once.
                    for key in counterKeys {
                        #expect(outcome.final[Int(key)] == Float(Self.workerCount * workload.iterations), "\(run.name) worker \(rank) counter \(key)")
                    }
                    if let bound = run.staleness {
                        #expect(report.largest.ownPushesMissing <= bound, "\(run.name) worker \(rank): \(report.largest)")
                    }
                    if run.name == "sequential" || run.name == "bsp" {
                        let mismatches = zip(outcome.final, reference).filter { $0 != $1 }.count
                        #expect(mismatches == 0, "\(run.name) worker \(rank): \(mismatches) of \(Self.keyCount) weights differ from the reference")
                        #expect(report.largest.ownPushesMissing == 0)
                    }
                    if run.name == "bsp" {
                        #expect(report.countersMatchedIterations, "bsp worker \(rank) read a table that was not exactly its iteration's")
                        #expect(report.largest.lagBehindSlowestNode == 0, "bsp worker \(rank): \(report.largest)")
                    }
                }
                let slowest = byRank.values.map(\.report.elapsed).max() ?? .zero
                let fastest = byRank.values.map(\.report.elapsed).min() ?? .zero
                let lag = byRank.values.map(\.report.largest.lagBehindSlowestNode).max() ?? 0
                print("consistency \(run.name): slowest worker \(slowest), fastest \(fastest), largest lag behind the slowest worker \(lag)")
            }
            #expect(try await manager.waitForExit(within: .seconds(30)) == 0, "manager: \(manager.errors.suffix(1500))")
            for server in servers {
                #expect(try await server.waitForExit(within: .seconds(30)) == 0, "\(server.name): \(server.errors.suffix(1500))")
            }
        }
    }
}
