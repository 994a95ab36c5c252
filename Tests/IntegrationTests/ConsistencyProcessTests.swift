import Foundation
import ParameterServer
import Testing

extension ConsistencyIntegrationTests {
    /// The slow-worker workload of docs/CONSISTENCY.md with every node a process: `zps run` starts the
    /// manager, two servers and four workers (worker 3 five times slower), the workers run the
    /// `consistency` application on one table per model, and the assertions read the `--json` summary.
    @Suite("Consistency models with worker processes")
    struct ConsistencyProcessTests {
        static let keyCount = 1_000
        static let workerCount = 4
        static let iterations = 16
        static let learningRate: Float = 0.5

        /// A table per model, and the staleness bound τ (in iterations) the job derives from it.
        static let tables: [(name: String, yaml: String, bound: Int?)] = [
            ("sequential", "consistency: sequential", 0),
            ("bsp", "consistency: bsp", 0),
            ("bounded0", "consistency: bounded_delay, max_delay: 1", 0),
            ("bounded1", "consistency: bounded_delay, max_delay: 3", 1),
            ("bounded4", "consistency: bounded_delay, max_delay: 9", 4),
            ("eventual", "consistency: eventual", nil),
        ]

        /// One range per server (`virtual_nodes: 1`), so that the counters, at both ends of each
        /// server's range, are the four keys the test names.
        static func writeTopology(
            in directory: URL, tables: [(name: String, yaml: String, bound: Int?)], extraTable: String = "",
            deadlines: String = "{ startup: 60s }"
        ) throws -> String {
            var yaml = """
                name: consistency-processes
                manager: { host: 127.0.0.1, port: 0 }
                servers: { count: 2, host: 127.0.0.1, port: 0, virtual_nodes: 1 }
                workers: { count: \(workerCount), host: 127.0.0.1, port: 0 }
                key_space: \(keyCount)
                tables:

                """
            for (index, table) in tables.enumerated() {
                yaml += "  - { name: \(table.name), id: \(index), value_length: 1, updater: add, \(table.yaml) }\n"
            }
            yaml += extraTable
            yaml += """
                deadlines: \(deadlines)
                application:
                  kind: consistency
                  iterations: \(iterations)
                  compute_ms: 2
                  slowdown: 5
                  slow_rank: 3

                """
            let path = directory.appendingPathComponent("topology.yaml").path
            try yaml.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        /// The sequential run computed in one process: each iteration, every worker moves the keys it
        /// owns (`key % workers`) halfway toward their targets from the table as it stands, and adds 1
        /// to every counter key; pushes are applied by adding.
        static func reference(counters: [Int]) -> [Float] {
            var table = [Float](repeating: 0, count: keyCount)
            for _ in 0..<iterations {
                for worker in 0..<workerCount {
                    var deltas: [(key: Int, delta: Float)] = []
                    for key in 0..<keyCount {
                        if counters.contains(key) {
                            deltas.append((key, 1))
                        } else if key % workerCount == worker {
                            deltas.append((key, learningRate * (SlowWorkerWorkload.target(worker: worker, key: key) - table[key])))
                        }
                    }
                    for (key, delta) in deltas { table[key] += delta }
                }
            }
            return table
        }

        /// FNV-1a (64 bits) over the values' little-endian IEEE 754 bytes, as the job reports it.
        static func hash(_ values: [Float]) -> String {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in values.flatMap({ value in withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } }) {
                hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
            }
            let digits = String(hash, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }

        /// A JSON number, which the decoder may give as an integer or a real.
        static func number(_ value: Any?) -> Double? {
            switch value {
            case let integer as Int: return Double(integer)
            case let real as Double: return real
            case let number as NSNumber: return number.doubleValue
            default: return nil
            }
        }

        /// Runs `zps run TOPOLOGY --json FILE` to its end.
        static func run(_ topology: String, in directory: URL) async throws -> (status: Int32, summary: [String: Any]?, errors: String) {
            let json = directory.appendingPathComponent("summary.json").path
            let process = try NodeProcess("run", arguments: ["run", topology, "--json", json], directory: directory)
            defer { process.kill() }
            guard let status = try await process.waitForExit(within: .seconds(120)) else {
                throw ClusterTestError("zps run did not finish; stderr:\n\(process.errors.suffix(2000))")
            }
            let summary = FileManager.default.contents(atPath: json).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
            return (status, summary, process.output + process.errors)
        }

        @Test("4 worker processes, one 5× slower: sequential and BSP equal the reference, bounded delay τ keeps staleness ≤ τ, every push applied once")
        func slowWorkerProcesses() async throws {
            let directory = try ClusterSupport.temporaryDirectory("consistency-processes")
            let topology = try Self.writeTopology(in: directory, tables: Self.tables)
            let (status, summary, errors) = try await Self.run(topology, in: directory)
            try #require(status == 0, "zps run exited with \(status):\n\(errors.suffix(3000))")
            let results = try #require(summary?["worker_results"] as? [[String: Any]], "no worker_results in the summary")
            #expect(results.compactMap { $0["rank"] as? Int } == Array(0..<Self.workerCount))

            let counterKeys = [0, 499, 500, 999]
            let reference = Self.reference(counters: counterKeys)
            // The reference has not converged: a value computed from a stale read would differ from it.
            let unconverged = (0..<Self.keyCount).filter { key in
                !counterKeys.contains(key) && reference[key] != SlowWorkerWorkload.target(worker: key % Self.workerCount, key: key)
                    && SlowWorkerWorkload.target(worker: key % Self.workerCount, key: key) != 0
            }
            #expect(unconverged.count > 800, "only \(unconverged.count) reference values differ from their targets")
            let referenceSum = reference.reduce(0.0) { $0 + Double($1) }
            let referenceHash = Self.hash(reference)

            var finalHashes: [String: Set<String>] = [:]
            for result in results {
                let rank = result["rank"] as? Int ?? -1
                #expect(result["counter_keys"] as? [Int] == counterKeys, "worker \(rank): the counters sit at both ends of each server's range")
                let models = result["models"] as? [[String: Any]] ?? []
                #expect(models.compactMap { $0["table"] as? String } == Self.tables.map(\.name), "worker \(rank)")
                for (table, model) in zip(Self.tables, models) {
                    let label = "\(table.name) worker \(rank)"
                    let ownMissing = model["largest_own_pushes_missing"] as? Int ?? -1
                    let lag = model["largest_lag_behind_slowest"] as? Int ?? -1
                    // Every iteration measured staleness from a clock the servers returned.
                    let measured = (model["own_pushes_missing"] as? [String: Int])?.values.reduce(0, +)
                    #expect(measured == Self.iterations, "\(label): \(model["own_pushes_missing"] ?? "none")")
                    #expect(model["iterations"] as? Int == Self.iterations, "\(label)")
                    #expect((Self.number(model["ms_per_iteration"]) ?? 0) > 0, "\(label)")
                    // Whatever the model, every push was applied exactly once.
                    #expect((model["final_counters"] as? [Any])?.compactMap(Self.number) == Array(repeating: Double(Self.workerCount * Self.iterations), count: counterKeys.count), "\(label)")
                    #expect(model["staleness_bound"] as? Int == table.bound, "\(label)")
                    if let bound = table.bound {
                        #expect(ownMissing >= 0 && ownMissing <= bound, "\(label): \(ownMissing) own pushes missing, bound \(bound)")
                    }
                    if table.name == "sequential" || table.name == "bsp" {
                        #expect(Self.number(model["final_sum"]) == referenceSum, "\(label)")
                        #expect(model["final_hash"] as? String == referenceHash, "\(label)")
                        #expect(model["reference_mismatches"] as? Int == 0, "\(label)")
                        #expect(ownMissing == 0, "\(label)")
                    }
                    if table.name == "bsp" {
                        #expect(model["counters_matched_iterations"] as? Bool == true, "\(label) read a table that was not exactly its iteration's")
                        #expect(lag == 0, "\(label): lag behind the slowest worker \(lag)")
                    }
                    finalHashes[table.name, default: []].insert(model["final_hash"] as? String ?? "")
                }
            }
            // After the last barrier every worker pulled the same final table.
            for table in Self.tables {
                #expect(finalHashes[table.name]?.count == 1, "\(table.name): \(finalHashes[table.name] ?? [])")
            }
        }

        @Test("a table the workload cannot count pushes on is refused, naming it")
        func refusesTableWithoutAddUpdater() async throws {
            let directory = try ClusterSupport.temporaryDirectory("consistency-refused")
            let topology = try Self.writeTopology(
                in: directory, tables: [("sequential", "consistency: sequential", 0)],
                extraTable: "  - { name: scaled, id: 1, value_length: 1, updater: sgd, consistency: eventual }\n",
                // The job fails before it starts: the servers' shutdown acknowledgements need not be awaited long.
                deadlines: "{ startup: 60s, shutdown: 2s }")
            let (status, _, errors) = try await Self.run(topology, in: directory)
            #expect(status != 0)
            // At the offending field: line 8 is the second table, its updater value at column 54.
            #expect(
                errors.contains("topology.yaml:8:54: tables[1].updater: the consistency workload counts pushes by summing them, so table 'scaled' must use the 'add' updater"),
                "\(errors.suffix(2000))")
        }
    }
}
