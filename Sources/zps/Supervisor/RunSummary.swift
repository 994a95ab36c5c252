import Foundation

/// The `zps run --json` file: one JSON object for every outcome — a job that finished, one that
/// failed, and a topology or data set refused before any process started — so a script reads
/// `status` and `failure` instead of guessing from a missing file.
///
/// Fields: `schema` (`zps.run`), `schema_version`, `zps_version`, `topology`, `status`
/// (`succeeded`, `failed` or `invalid`), `succeeded`, `seconds`, `failure` (the root cause, absent
/// on success), `errors` (every failure noticed, root cause first), then for a job that ran
/// `workers` (the workers' summary lines), `processes` (each process's exit) and what the
/// application reports (JobResults).
enum RunSummary {
    static let schema = "zps.run"
    static let schemaVersion = 1

    /// The summary of a job that ran.
    static func object(topology: String, outcome: Supervisor.Outcome) -> [String: Any] {
        var object = header(topology: topology, status: outcome.succeeded ? "succeeded" : "failed", seconds: outcome.seconds)
        object["workers"] = outcome.summaries
        object["processes"] = outcome.exits
        object["errors"] = outcome.errors
        if let failure = outcome.failure { object["failure"] = failure }
        object.merge(JobResults(lines: outcome.results).jsonFields) { current, _ in current }
        return object
    }

    /// The summary of a job refused before it started.
    static func object(topology: String, invalid reason: String, seconds: Double) -> [String: Any] {
        var object = header(topology: topology, status: "invalid", seconds: seconds)
        object["failure"] = reason
        object["errors"] = [reason]
        return object
    }

    /// For a `zps run … --json PATH` whose command line did not parse: the `invalid` summary, at
    /// the path the arguments name, so that a script finds one whatever went wrong. Writes nothing
    /// for other commands or without `--json`.
    static func writeUnparsedCommandLine(_ arguments: [String], reason: String) {
        guard arguments.count > 1, arguments[1] == "run" else { return }
        let rest = Array(arguments.dropFirst(2))
        var path: String?
        for (index, argument) in rest.enumerated() {
            if argument == "--json", index + 1 < rest.count { path = rest[index + 1] }
            if argument.hasPrefix("--json=") { path = String(argument.dropFirst("--json=".count)) }
        }
        guard let path else { return }
        let topology = rest.first { !$0.hasPrefix("-") } ?? ""
        try? write(object(topology: topology, invalid: reason, seconds: 0), to: path)
    }

    static func write(_ object: [String: Any], to path: String) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: path))
    }

    private static func header(topology: String, status: String, seconds: Double) -> [String: Any] {
        [
            "schema": schema, "schema_version": schemaVersion, "zps_version": ZPSVersion.current,
            "topology": topology, "status": status, "succeeded": status == "succeeded", "seconds": seconds,
        ]
    }
}
