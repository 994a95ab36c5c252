import Foundation

/// The workers' `@zps result {JSON}` lines merged into the figures of the whole run: the evaluating
/// worker's test metrics (and the true model's, for generated data) and the cluster's training
/// throughput, the sum of the workers' examples over the slowest worker's training time.
struct JobResults {
    /// One object per worker that reported, by rank.
    let workers: [[String: Any]]

    /// Parses the lines; a line that is not a JSON object is kept as `{"unparsed": LINE}`.
    init(lines: [String]) {
        workers = lines.map { line in
            let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            return object ?? ["unparsed": line]
        }.sorted { ($0["rank"] as? Int ?? .max) < ($1["rank"] as? Int ?? .max) }
    }

    var isEmpty: Bool { workers.isEmpty }

    /// The worker that evaluated the test set.
    private var evaluator: [String: Any]? { workers.first { $0["test"] != nil } }

    private var examples: Int { workers.reduce(0) { $0 + ($1["examples"] as? Int ?? 0) } }

    private var examplesPerSecond: Double? {
        let slowest = workers.compactMap { $0["training_seconds"] as? Double }.max() ?? 0
        return slowest > 0 ? Double(examples) / slowest : nil
    }

    /// Malformed data lines the workers skipped (`on_bad_line: skip`), test lines included.
    private var skippedLines: Int {
        workers.reduce(0) { $0 + ($1["skipped_lines"] as? Int ?? 0) + ($1["skipped_test_lines"] as? Int ?? 0) }
    }

    /// The error of the first skipped line, by worker rank.
    private var firstSkippedLine: String? { workers.lazy.compactMap { $0["first_skipped_line"] as? String }.first }

    /// The fields `zps run --json` adds to its summary.
    var jsonFields: [String: Any] {
        var fields: [String: Any] = ["worker_results": workers, "examples": examples]
        if workers.contains(where: { $0["skipped_lines"] != nil }) { fields["skipped_lines"] = skippedLines }
        // The push/pull check: the cluster's rates are the sums of the workers', which run at once.
        for key in ["push_keys_per_second", "pull_keys_per_second"] where workers.contains(where: { $0[key] != nil }) {
            fields[key] = workers.reduce(0.0) { $0 + ($1[key] as? Double ?? 0) }
        }
        if let examplesPerSecond { fields["examples_per_second"] = examplesPerSecond }
        if let evaluator {
            for key in ["test", "true_model", "epochs", "model"] where evaluator[key] != nil { fields[key] = evaluator[key] }
        }
        return fields
    }

    /// The lines the final summary shows.
    var reportLines: [String] {
        var lines: [String] = []
        if let examplesPerSecond {
            lines.append(String(format: "training: %d examples, %.0f examples/s over %d worker(s)", examples, examplesPerSecond, workers.count))
        }
        if let test = evaluator?["test"] as? [String: Any] {
            var line = "test: AUC \(Self.figure(test["auc"]))"
            if let trueModel = evaluator?["true_model"] as? [String: Any] {
                line += " (true model \(Self.figure(trueModel["auc"])))"
            }
            line += ", logloss \(Self.figure(test["logloss"]))"
            if let trueModel = evaluator?["true_model"] as? [String: Any] { line += " (true model \(Self.figure(trueModel["logloss"])))" }
            line += ", accuracy \(Self.figure(test["accuracy"])) on \(test["examples"] as? Int ?? 0) rows"
            lines.append(line)
        }
        if skippedLines > 0 {
            lines.append("skipped \(skippedLines) malformed data line(s) (on_bad_line: skip)" + (firstSkippedLine.map { ", the first: \($0)" } ?? ""))
        }
        if let model = evaluator?["model"] as? String { lines.append("model saved to \(model)") }
        return lines
    }

    private static func figure(_ value: Any?) -> String {
        (value as? Double).map { String(format: "%.4f", $0) } ?? "n/a"
    }
}
