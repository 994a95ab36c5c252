import Foundation

/// The figures zps is held to, each a median of one invocation: a ratio to the C reference for the
/// same shape (or, for the apply loop, a rate), beside what ps-lite, a well-known C++ parameter
/// server, reached against the same reference on this kind of machine.
struct BenchTarget: Sendable {
    var scenario: String
    /// Parameters a row must have (unpinned, default busy poll, one server and worker for push-pull).
    var parameters: [String: String]
    var metric: String
    /// The least zps / C ratio, or with `absolute` the least median in the row's unit.
    var least: Double
    var absolute = false
    /// ps-lite / C for the same shape, where it was measured.
    var psLite: Double?

    /// The targets zps-bench checks with `--targets`.
    static let all: [BenchTarget] = {
        func pushPull(_ keys: Int, _ window: Int) -> [String: String] {
            [
                "keys": "\(keys)", "inflight": "\(window)", "servers": "1", "workers": "1", "value_length": "1",
                "transport": "tcp", "pinned": "false", "busy_poll": "default",
            ]
        }
        let oneKey = ["keys": "1", "inflight": "1"]
        return [
            BenchTarget(scenario: "push-pull", parameters: pushPull(100_000, 1), metric: "push keys/s", least: 0.9, psLite: 0.87),
            BenchTarget(scenario: "push-pull", parameters: pushPull(100_000, 1), metric: "pull keys/s", least: 0.9, psLite: 0.60),
            BenchTarget(scenario: "push-pull", parameters: pushPull(100_000, 8), metric: "push keys/s", least: 0.9),
            BenchTarget(scenario: "push-pull", parameters: pushPull(100_000, 8), metric: "pull keys/s", least: 0.9),
            BenchTarget(scenario: "push-pull", parameters: pushPull(1_000, 8), metric: "push keys/s", least: 0.8, psLite: 0.75),
            BenchTarget(scenario: "push-pull", parameters: pushPull(1_000, 8), metric: "pull keys/s", least: 0.8, psLite: 0.64),
            BenchTarget(scenario: "push-pull", parameters: pushPull(1_000, 1), metric: "push keys/s", least: 0.7, psLite: 0.62),
            BenchTarget(scenario: "push-pull", parameters: pushPull(1_000, 1), metric: "pull keys/s", least: 0.7, psLite: 0.54),
            BenchTarget(scenario: "large-value", parameters: oneKey, metric: "push GB/s", least: 0.5, psLite: 0.48),
            BenchTarget(scenario: "large-value", parameters: oneKey, metric: "pull GB/s", least: 0.5, psLite: 0.48),
            BenchTarget(scenario: "apply", parameters: ["keys": "100000"], metric: "apply keys/s", least: 100e6, absolute: true),
        ]
    }()

    /// Whether `row` is the figure this target names.
    func matches(_ row: ResultRow) -> Bool {
        row.scenario == scenario && row.metric == metric && parameters.allSatisfy { row.parameters[$0.key] == $0.value }
    }

    /// The verdict on `row`, or nil when the row has no ratio and the target needs one.
    func verdict(_ row: ResultRow) -> TargetVerdict? {
        let figure = absolute ? row.median : row.ratio
        guard let figure else { return nil }
        return TargetVerdict(
            shape: row.shape, metric: metric, figure: figure, least: least, absolute: absolute, met: figure >= least,
            psLite: psLite, overPSLite: psLite.map { figure / $0 },
            pairedRatios: absolute ? [] : Self.pairedRatios(row))
    }

    /// zps / C of each repetition (each zps run was followed by its C run), for a look at the spread.
    static func pairedRatios(_ row: ResultRow) -> [Double] {
        zip(row.runs, row.referenceRuns).map { ResultRow.ratio(zps: $0, reference: $1, unit: row.unit) }
    }

    /// The verdict on every target that `rows` hold a figure for.
    static func verdicts(_ rows: [ResultRow]) -> [TargetVerdict] {
        all.compactMap { target in rows.first(where: target.matches).flatMap(target.verdict) }
    }
}

/// How one figure stands against its target (and against ps-lite), as printed and written to JSON.
struct TargetVerdict: Codable, Sendable {
    var shape: String
    var metric: String
    /// zps / C, or the median itself for an absolute target.
    var figure: Double
    var least: Double
    var absolute: Bool
    var met: Bool
    var psLite: Double?
    /// `figure` / ps-lite's ratio: above 1 means zps is ahead of ps-lite by that factor.
    var overPSLite: Double?
    var pairedRatios: [Double]

    /// The verdicts as a table for the terminal, and a closing count.
    static func render(_ verdicts: [TargetVerdict]) -> String {
        let header = ["target", "shape", "metric", "zps", "needed", "verdict", "ps-lite", "zps/ps-lite", "per repetition"]
        let body = verdicts.map { verdict in
            [
                verdict.absolute ? "rate" : "ratio", verdict.shape, verdict.metric,
                verdict.absolute ? ResultTable.format(verdict.figure, "keys/s") : String(format: "%.2fx", verdict.figure),
                ">= " + (verdict.absolute ? ResultTable.format(verdict.least, "keys/s") : String(format: "%.2fx", verdict.least)),
                verdict.met ? "met" : "MISSED",
                verdict.psLite.map { String(format: "%.2fx", $0) } ?? "-",
                verdict.overPSLite.map { String(format: "%.2fx", $0) } ?? "-",
                verdict.pairedRatios.map { String(format: "%.2f", $0) }.joined(separator: " "),
            ]
        }
        let met = verdicts.filter(\.met).count
        return ResultTable.align(header: header, body: body, rightAligned: 3...7)
            + "\n\(met) of \(verdicts.count) targets met (medians of this invocation; ratios are zps / C)"
    }
}
