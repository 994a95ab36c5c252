import Foundation

/// One `zps run` of the sparse-LR topology on the `cost` data, as a user runs it: every process
/// started by `zps run`, the CPU time of all of them together (the supervisor, the manager, the
/// servers and the workers, from start-up to exit, test evaluations included).
struct SparseLRClusterRun {
    /// What one run reported and cost.
    struct Outcome {
        var examples: Int
        /// Training examples over the slowest worker's training time, as `zps run` reports it.
        var examplesPerSecond: Double
        var wallSeconds: Double
        var cpuSeconds: Double
        var auc: Double
        var logLoss: Double
    }

    var settings: CostSettings
    var servers: Int
    var workers: Int
    /// The servers' and workers' `scheduling` (nil: the topology's).
    var scheduling: String? = nil
    /// Busy loops (`sh -c 'while :; do :; done'`) running beside the job, competing for the CPUs;
    /// their CPU time is not counted.
    var competingLoops = 0
    /// `zps run --replication`: copies of each range besides its primary (0: the topology's).
    var replication = 0

    /// The name of this shape's files.
    var label: String {
        "s\(servers)-w\(workers)" + (scheduling.map { "-\($0)" } ?? "") + (replication > 0 ? "-r\(replication)" : "")
            + (competingLoops > 0 ? "-busy\(competingLoops)" : "")
    }

    /// The topology file of this shape: the shipped one for its own counts, else a copy with the
    /// counts changed, under `.build/cost/`.
    func topologyPath() throws -> String {
        let text = try String(contentsOfFile: CostSettings.topologyPath, encoding: .utf8)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var found = 0
        for index in lines.indices {
            for (role, count) in [("servers", servers), ("workers", workers)] where lines[index].hasPrefix("\(role): {") {
                guard let range = lines[index].range(of: #"count: \d+"#, options: .regularExpression),
                    let end = lines[index].lastIndex(of: "}")
                else { continue }
                if let scheduling {
                    if let existing = lines[index].range(of: #"scheduling: \w+"#, options: .regularExpression) {
                        lines[index].replaceSubrange(existing, with: "scheduling: \(scheduling)")
                    } else {
                        lines[index].insert(contentsOf: ", scheduling: \(scheduling)", at: end)
                    }
                }
                lines[index].replaceSubrange(range, with: "count: \(count)")
                found += 1
            }
        }
        guard found == 2 else {
            throw BenchError("\(CostSettings.topologyPath): expected one-line 'servers: { count: N, … }' and 'workers: { count: N, … }'")
        }
        let path = CostSettings.directory + "/local-\(label).yaml"
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func run() throws -> Outcome {
        let summary = CostSettings.directory + "/zps-\(label).json"
        try? FileManager.default.removeItem(atPath: summary)
        let loops = try (0..<competingLoops).map { _ in
            let loop = Process()
            loop.executableURL = URL(fileURLWithPath: "/bin/sh")
            loop.arguments = ["-c", "while :; do :; done"]
            try loop.run()
            return loop
        }
        defer {
            for loop in loops {
                kill(loop.processIdentifier, SIGKILL)
                loop.waitUntilExit()
            }
        }
        let outcome = try MeasuredProcess(
            executable: settings.zps,
            arguments: [
                "run", try topologyPath(), "--train", settings.trainPath, "--test", settings.testPath,
                "--set", "test_probabilities=\(settings.testPath).probabilities",
                "--set", "save_model=\(CostSettings.directory)/zps-model.txt", "--json", summary,
            ] + (replication > 0 ? ["--replication", "\(replication)"] : []),
            logPath: CostSettings.directory + "/zps-\(label).log"
        ).run()
        guard outcome.status == 0 else {
            throw BenchError("zps run \(label) failed (exit \(outcome.status)):\n\(outcome.output)")
        }
        guard let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: summary))) as? [String: Any],
            let examples = object["examples"] as? Int, let rate = object["examples_per_second"] as? Double,
            let test = object["test"] as? [String: Any], let auc = test["auc"] as? Double, let logLoss = test["logloss"] as? Double
        else { throw BenchError("\(summary): no examples, examples_per_second, test.auc or test.logloss") }
        return Outcome(
            examples: examples, examplesPerSecond: rate, wallSeconds: outcome.wallSeconds, cpuSeconds: outcome.cpuSeconds,
            auc: auc, logLoss: logLoss)
    }
}
