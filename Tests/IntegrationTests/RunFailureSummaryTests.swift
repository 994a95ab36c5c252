import Foundation
import SparseLR
import Testing

/// What `zps run` says when a job fails once its processes run: the root cause on the summary's
/// first error line and in `--json`, whatever was noticed first; and malformed lines skipped under
/// `on_bad_line: skip`, counted in the summary.
@Suite("zps run failure summaries", .serialized)
struct RunFailureSummaryTests {
    /// A 1-server, 2-worker sparse_lr topology in `directory` training on `train`.
    static func topology(in directory: URL, train: String, extra: [String] = []) throws -> String {
        try ClusterSupport.writeSparseLRTopology(
            in: directory, workers: 2, deadlines: "{ startup: 60s, shutdown: 5s }",
            application: ["train: \(train)", "minibatch: 50"] + extra)
    }

    /// Generated Criteo rows with `bad` (1-based line numbers) made malformed: field 2 becomes `garbage`.
    static func data(in directory: URL, rows: Int, bad: [Int]) throws -> String {
        let path = directory.appendingPathComponent("train.tsv").path
        var generator = SyntheticCTRGenerator(seed: 5)
        try generator.write(rows: rows, to: path, probabilitiesPath: path + ".probabilities")
        var lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        for line in bad {
            let fields = lines[line - 1].split(separator: "\t", omittingEmptySubsequences: false)
            lines[line - 1] = ([fields[0], "garbage"] + fields.dropFirst(2)).joined(separator: "\t")[...]
        }
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Runs `zps run TOPOLOGY --json` to its end: the process, its exit status and the summary.
    static func run(_ topology: String, in directory: URL) async throws -> (NodeProcess, Int32, [String: Any]) {
        let json = directory.appendingPathComponent("summary.json").path
        let run = try NodeProcess("run", arguments: ["run", topology, "--json", json], directory: directory)
        defer { run.kill() }
        let status = try #require(try await run.waitForExit(within: .seconds(300)), "zps run did not finish: \(run.errors.suffix(2000))")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        return (run, status, summary)
    }

    /// The summary's line after `== TOPOLOGY: FAILED in …`.
    static func firstSummaryLine(_ output: String) -> String? {
        let lines = output.split(separator: "\n").map(String.init)
        guard let header = lines.firstIndex(where: { $0.contains(": FAILED in ") }), header + 1 < lines.count else { return nil }
        return lines[header + 1]
    }

    @Test("a malformed line past the lines checked before the start ends the job, naming the worker, file, line and field")
    func dataErrorWhileTraining() async throws {
        let directory = try ClusterSupport.temporaryDirectory("data-error")
        // zps run parses the first 10,000 examples before it starts the processes; line 11,001 is
        // data line 11,000, worker 0's.
        let train = try Self.data(in: directory, rows: 12_000, bad: [11_001])
        let (run, status, summary) = try await Self.run(try Self.topology(in: directory, train: train), in: directory)
        #expect(status == 1)
        let cause = "worker-0: \(train):11001: field 2 (I1): expected an integer, found \"garbage\""
        #expect(Self.firstSummaryLine(run.output) == "   error: \(cause)", "zps run printed: \(run.output.suffix(2000))")
        #expect(summary["status"] as? String == "failed")
        #expect(summary["failure"] as? String == cause)
        #expect((summary["errors"] as? [String])?.first == cause)
        // Nobody waits out the shutdown deadline for nodes that are gone.
        #expect(!run.errors.contains("did not exit within"), "zps run said: \(run.errors.suffix(2000))")
    }

    @Test("on_bad_line: skip trains on the other lines and counts the skipped ones per worker and in the summary")
    func skippedLines() async throws {
        let directory = try ClusterSupport.temporaryDirectory("skip")
        // Lines 5, 6 and 8 are data lines 4, 5 and 7: worker 0 skips one, worker 1 two.
        let train = try Self.data(in: directory, rows: 400, bad: [5, 6, 8])
        let (run, status, summary) = try await Self.run(
            try Self.topology(in: directory, train: train, extra: ["on_bad_line: skip"]), in: directory)
        #expect(status == 0, "zps run said: \(run.errors.suffix(2000))")
        #expect(summary["skipped_lines"] as? Int == 3)
        #expect(summary["examples"] as? Int == 397)
        let workers = (summary["worker_results"] as? [[String: Any]]) ?? []
        #expect(workers.map { $0["skipped_lines"] as? Int } == [1, 2])
        let first = "\(train):5: field 2 (I1): expected an integer, found \"garbage\""
        #expect(workers.first?["first_skipped_line"] as? String == first)
        #expect(run.output.contains("   skipped 3 malformed data line(s) (on_bad_line: skip), the first: \(first)\n"), "zps run printed: \(run.output)")
        #expect((summary["workers"] as? [String])?.first?.hasSuffix("; skipped 1 malformed line(s) (on_bad_line: skip)") == true)
    }
}
