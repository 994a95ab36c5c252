import Foundation
import Testing

/// The override flags of `zps run` reach every process it starts: the counts, the key space,
/// replication and `--set` parameters, checked by the same rules as the file.
@Suite("zps run overrides", .serialized)
struct RunOverrideTests {
    @Test("--servers, --workers, --key-space, --replication and --set change the job every process runs")
    func overridesReachEveryProcess() async throws {
        let directory = try ClusterSupport.temporaryDirectory("overrides")
        let topology = try ClusterSupport.writeTopology(
            in: directory, servers: 2, workers: 2, keySpace: 1 << 20, tables: [("weights", 1)],
            application: "kind: pushpull\nkeys: 100000\nrounds: 1")
        let refused = try NodeProcess("refused", arguments: ["run", topology, "--workers", "0"], directory: directory)
        #expect(try await refused.waitForExit(within: .seconds(60)) == 1)
        #expect(refused.errors == "zps: command line: workers.count: expected an integer in 1...100000, found 0\n")
        let unreplicable = try NodeProcess("unreplicable", arguments: ["run", topology, "--replication", "2"], directory: directory)
        #expect(try await unreplicable.waitForExit(within: .seconds(60)) == 1)
        #expect(unreplicable.errors == "zps: command line: replication: replication 2 keeps 3 copies of every range, which needs at least 3 servers, found 2\n")

        let json = directory.appendingPathComponent("summary.json").path
        let run = try NodeProcess(
            "run",
            arguments: [
                "run", topology, "--servers", "3", "--workers", "3", "--key-space", "5000", "--replication", "1", "--set", "keys=2000",
                "--json", json,
            ],
            directory: directory)
        defer { run.kill() }
        #expect(try await run.waitForExit(within: .seconds(120)) == 0, "zps run said: \(run.errors.suffix(2000))")
        #expect(run.errors.contains("zps: starting test: 1 manager, 3 server(s), 3 worker(s) on this host"))
        // Every server sent the results of its ranges down their chains.
        for rank in 0..<3 { #expect(run.errors.contains("server-\(rank) replication: sent "), "server-\(rank) replicated nothing") }
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        let workers = summary["workers"] as? [String] ?? []
        #expect(workers.count == 3)
        #expect(workers.allSatisfy { $0.contains("checked 2000 keys of 1 table(s)") && $0.contains("all exact") }, "workers: \(workers)")
        let results = summary["worker_results"] as? [[String: Any]] ?? []
        #expect(results.map { $0["keys"] as? Int } == [2000, 2000, 2000])
        let pushRates = results.compactMap { $0["push_keys_per_second"] as? Double }
        #expect(pushRates.count == 3 && pushRates.allSatisfy { $0 > 0 })
        // The cluster's rate is the sum of the workers' (up to the decimal digits JSON keeps).
        let total = try #require(summary["push_keys_per_second"] as? Double)
        #expect(abs(total - pushRates.reduce(0, +)) <= 1e-9 * total)
        #expect((summary["processes"] as? [String])?.count == 7)
    }
}
