/// A family of measurements that `zps-bench NAME` runs: it lists its trials, the runner repeats and
/// interleaves them (with the C reference) and reports medians.
protocol Scenario: Sendable {
    /// The name on the command line, e.g. `push-pull`.
    var name: String { get }
    /// One line for `zps-bench list`.
    var summary: String { get }
    /// The shapes to measure under `options`.
    func trials(_ options: BenchOptions) throws -> [Trial]
    /// The rows of this scenario after every repetition ran (see the default below).
    func summarize(_ rows: [ResultRow]) -> [ResultRow]
    /// The scenario's own plot, if it has one (see the default below).
    func plot(_ rows: [ResultRow]) -> String?
}

/// One shape of one scenario: a zps measurement and, where there is one, the C figure for the same shape.
struct Trial: Sendable {
    /// The scenario's name.
    var scenario: String
    /// The shape as a short label, e.g. `N=100000 inflight=8 s=1 w=1 vl=1 tcp`.
    var shape: String
    /// The shape as fields, for the JSON.
    var parameters: [String: String]
    /// Keys (or floats) per request, the x axis of the plot; nil keeps the trial off the plot.
    var requestSize: Int?
    /// One run of zps.
    var measure: @Sendable () async throws -> [Sample]
    /// One run of the C reference for the same shape; samples whose `metric` matches a zps sample
    /// give that sample its ratio.
    var reference: (@Sendable () async throws -> [Sample])?
}

/// One figure of one run.
struct Sample: Sendable, Hashable {
    /// What was measured, e.g. `push keys/s`; the same string in zps and C samples pairs them.
    var metric: String
    /// The figure.
    var value: Double
    /// Its unit, e.g. `keys/s`, `us`, `GB/s`.
    var unit: String
}

extension Scenario {
    /// The scenario's rows once every repetition ran: figures computed across runs or across
    /// shapes (percentiles, ratios between shapes) are added or replaced here. By default the rows
    /// stay as they are.
    func summarize(_ rows: [ResultRow]) -> [ResultRow] { rows }

    /// An SVG of the scenario's rows, for scenarios whose figures are not keys/s against keys per
    /// request; nil by default.
    func plot(_ rows: [ResultRow]) -> String? { nil }
}
