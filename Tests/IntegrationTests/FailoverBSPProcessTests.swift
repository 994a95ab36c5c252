import Foundation
import ParameterServer
import Testing

/// A `bsp` job of real processes with `replication: 1`, a server killed with SIGKILL in the middle of
/// its iterations, or a server joining (docs/FAULT-TOLERANCE.md, "BSP iterations"): the slow-worker `consistency`
/// workload of docs/CONSISTENCY.md on three servers and four worker processes, whose own checks say
/// whether every pull of iteration `i` read a table holding exactly the iterations up to `i`, whether
/// every push was applied once, and whether the final table is the sequential reference. The slow
/// worker computes 20 times as long as the others, so that most of the time the servers hold the
/// fast workers' pushes of an iteration and wait for the slow one's: where a kill lands.
@Suite("Fail-over of a bsp job of worker processes", .serialized)
struct FailoverBSPProcessTests {
    static let workers = 4
    static let iterations = 200

    static func topology(in directory: URL) throws -> String {
        let yaml = """
            name: failover-bsp
            manager: { host: 127.0.0.1, port: 0 }
            servers: { count: 3, host: 127.0.0.1, port: 0, virtual_nodes: 4 }
            workers: { count: \(workers), host: 127.0.0.1, port: 0 }
            key_space: 1000
            replication: 1
            tables:
              - { name: bsp, value_length: 1, updater: add, consistency: bsp }
            deadlines:

            """ + FailoverClusterTests.deadlineLines + """
            application:
              kind: consistency
              iterations: \(iterations)
              compute_ms: 1
              slowdown: 20
              slow_rank: 3

            """
        let path = directory.appendingPathComponent("topology.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// One `zps run --json` of `topology`; with a victim, that server is killed `delay` after the
    /// job's eight processes run. Returns the workers' results, what `zps run` said, and how long
    /// the job took.
    static func run(
        _ topology: String, in directory: URL, kill victim: String? = nil, after delay: Duration = .zero
    ) async throws -> (results: [[String: Any]], log: String, took: Duration, killedPid: Int32?) {
        let (run, json) = try start(topology, in: directory, name: "run-\(victim ?? "fault-free")")
        defer { run.kill() }
        let (started, killedPid) = try await ClusterSupport.kill(victim, of: run, processes: 8, after: delay)
        let (results, log) = try await finish(run, json: json, label: victim.map { "\($0) killed after \(delay)" } ?? "fault-free")
        return (results, log, ContinuousClock.now - started, killedPid)
    }

    /// As ``run(_:in:kill:after:)``, but `delay` after the job's processes run a fourth server,
    /// `zps server --join`, joins it.
    static func runJoined(_ topology: String, in directory: URL, after delay: Duration) async throws -> (results: [[String: Any]], log: String) {
        let (run, json) = try start(topology, in: directory, name: "run-joined")
        defer { run.kill() }
        let children = try await ClusterSupport.waitForChildren(of: run, count: 8, outputContaining: "zps: starting")
        let manager = try JoinClusterTests.managerEndpoint(roles: try await ClusterSupport.roles(of: children))
        try await Task.sleep(for: delay)
        let joiner = try NodeProcess(
            "server-3", arguments: ["server", "--topology", topology, "--join", "--rank", "3", "--manager", manager], directory: directory)
        defer { joiner.kill() }
        return try await finish(run, json: json, label: "server-3 joining after \(delay)", more: "\nthe joiner said:\n\(joiner.errors.suffix(2000))")
    }

    /// Starts `zps run --json` of `topology`; returns it and where its summary goes.
    static func start(_ topology: String, in directory: URL, name: String) throws -> (NodeProcess, String) {
        let json = directory.appendingPathComponent("summary.json").path
        try? FileManager.default.removeItem(atPath: json)
        return (try NodeProcess(name, arguments: ["run", topology, "--json", json], directory: directory), json)
    }

    /// Waits for `run` to end; returns the workers' results and what it said, or throws if it failed.
    static func finish(_ run: NodeProcess, json: String, label: String, more: @autoclosure () -> String = "") async throws
        -> (results: [[String: Any]], log: String)
    {
        let status = try await run.waitForExit(within: .seconds(300))
        let log = run.errors + run.output
        guard status == 0, let data = FileManager.default.contents(atPath: json),
            let summary = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let results = summary["worker_results"] as? [[String: Any]]
        else {
            throw ClusterTestError("zps run (\(label)) exited with \(String(describing: status)):\n\(log.suffix(3000))\(more())")
        }
        return (results, log)
    }

    /// What the workers' own checks say is wrong. The lag behind the slowest worker is measured
    /// from the pulls' vector clocks, which the workload makes whole by pushing a counter at both
    /// ends of every segment of the first node table; a join cuts segments where no counter lies,
    /// so the clocks of the pieces' edges stay behind and the lag says nothing then (`lag: false`).
    static func problems(_ results: [[String: Any]], label: String, lag: Bool = true) -> [String] {
        var problems: [String] = []
        if results.count != workers { problems.append("\(label): \(results.count) worker results") }
        var hashes = Set<String>()
        for result in results {
            let rank = result["rank"] as? Int ?? -1
            guard let model = (result["models"] as? [[String: Any]])?.first else {
                problems.append("\(label) worker \(rank): no model")
                continue
            }
            let counters = (model["final_counters"] as? [Any])?.compactMap(ConsistencyIntegrationTests.ConsistencyProcessTests.number) ?? []
            if counters.isEmpty || counters.contains(where: { $0 != Double(workers * iterations) }) {
                problems.append("\(label) worker \(rank): final counters \(counters), not \(workers * iterations) each")
            }
            if model["counters_matched_iterations"] as? Bool != true {
                problems.append("\(label) worker \(rank) read a table that was not exactly its iteration's")
            }
            if model["reference_mismatches"] as? Int != 0 {
                problems.append("\(label) worker \(rank): \(model["reference_mismatches"] ?? "?") values differ from the sequential reference")
            }
            if lag, model["largest_lag_behind_slowest"] as? Int != 0 {
                problems.append("\(label) worker \(rank): lag behind the slowest worker \(model["largest_lag_behind_slowest"] ?? "?")")
            }
            hashes.insert(model["final_hash"] as? String ?? "")
        }
        if hashes.count != 1 { problems.append("\(label): the workers' final tables differ: \(hashes)") }
        return problems
    }

    @Test("kill -9 of one of 3 servers mid-iteration, or a fourth server joining: every pull reads exactly its iteration, every push applied once, the table is the reference")
    func bspSurvivesAKilledServer() async throws {
        let directory = try ClusterSupport.temporaryDirectory("failover-bsp")
        defer { try? FileManager.default.removeItem(at: directory) }
        let topology = try Self.topology(in: directory)
        let reference = try await Self.run(topology, in: directory)
        #expect(Self.problems(reference.results, label: "fault-free") == [])
        let referenceHash = (reference.results.first?["models"] as? [[String: Any]])?.first?["final_hash"] as? String
        // The kills must land while the workers iterate, whatever this machine's speed.
        #expect(reference.took >= .seconds(2), "the fault-free job took only \(reference.took); the kills would land at its end")

        for seed in [1, 2] as [UInt64] {
            var random = SplitMix64(seed: seed)
            let victim = "server-\(random.next() % 3)"
            let delay = reference.took * (0.2 + Double(random.next() % 1000) / 2500)
            let label = "seed \(seed), \(victim) killed \(delay) after the start (the fault-free job took \(reference.took))"
            let failed = try await Self.run(topology, in: directory, kill: victim, after: delay)
            let pid = failed.killedPid ?? 0
            #expect(failed.log.contains("\(victim) (pid \(pid)) was killed by signal 9 (SIGKILL); replication 1 covers it"), "\(label): \(failed.log.suffix(2000))")
            #expect(failed.log.contains("recovered: \(victim) lost after "), "\(label): \(failed.log.suffix(2000))")
            #expect(Self.problems(failed.results, label: label) == [])
            let hash = (failed.results.first?["models"] as? [[String: Any]])?.first?["final_hash"] as? String
            #expect(hash != nil && hash == referenceHash, "\(label): final table \(hash ?? "none"), fault-free \(referenceHash ?? "none")")
        }

        // A fourth server joins mid-iteration: the same checks, and the same final table.
        let joined = try await Self.runJoined(topology, in: directory, after: reference.took * 0.3)
        #expect(joined.log.contains("server-3 (node ") && joined.log.contains(" joined in "), "\(joined.log.suffix(2000))")
        #expect(Self.problems(joined.results, label: "joined", lag: false) == [])
        let hash = (joined.results.first?["models"] as? [[String: Any]])?.first?["final_hash"] as? String
        #expect(hash != nil && hash == referenceHash, "joined: final table \(hash ?? "none"), fault-free \(referenceHash ?? "none")")
    }
}
