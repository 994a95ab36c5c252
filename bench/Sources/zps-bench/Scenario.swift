/// A family of measurements that `zps-bench NAME` runs: it lists its trials, the runner repeats and
/// interleaves them (with the C reference) and reports medians.
protocol Scenario: Sendable {
    /// The name on the command line, e.g. `push-pull`.
    var name: String { get }
    /// One line for `zps-bench list`.
    var summary: String { get }
    /// The shapes to measure under `options`.
    func trials(_ options: BenchOptions) throws -> [Trial]
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
