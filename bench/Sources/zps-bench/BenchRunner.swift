import Foundation

/// Runs trials round-robin, `repetitions` times over the whole list (each zps run followed by the C
/// run of the same shape), so that slow spells of a shared machine spread over every figure.
///
/// The first trial is run once more before anything is recorded: the first cluster of a fresh
/// process pays for page faults and allocator growth that no later run sees.
struct BenchRunner {
    let repetitions: Int

    func run(_ trials: [Trial]) async throws -> [ResultRow] {
        var zps = [[Sample]](repeating: [], count: trials.count)
        var reference = [[Sample]](repeating: [], count: trials.count)
        if let first = trials.first {
            progress("[warm-up] \(first.scenario) \(first.shape)")
            _ = try await first.measure()
        }
        for repetition in 1...repetitions {
            for (index, trial) in trials.enumerated() {
                progress("[\(repetition)/\(repetitions)] \(trial.scenario) \(trial.shape)")
                zps[index] += try await trial.measure()
                if let measureReference = trial.reference {
                    reference[index] += try await measureReference()
                }
            }
        }
        return trials.indices.flatMap { index in
            Self.rows(trials[index], zps: zps[index], reference: reference[index])
        }
    }

    /// One row per zps metric: its median over the runs, and the C median of the same metric.
    static func rows(_ trial: Trial, zps: [Sample], reference: [Sample]) -> [ResultRow] {
        var metrics: [String] = []
        for sample in zps where !metrics.contains(sample.metric) { metrics.append(sample.metric) }
        return metrics.map { metric in
            let runs = zps.filter { $0.metric == metric }
            let referenceRuns = reference.filter { $0.metric == metric }.map(\.value)
            let median = Statistics.median(runs.map(\.value)) ?? 0
            let referenceMedian = Statistics.median(referenceRuns)
            return ResultRow(
                scenario: trial.scenario, shape: trial.shape, parameters: trial.parameters,
                requestSize: trial.requestSize, metric: metric, unit: runs[0].unit,
                median: median, runs: runs.map(\.value),
                referenceMedian: referenceMedian, referenceRuns: referenceRuns,
                ratio: referenceMedian.map { ResultRow.ratio(zps: median, reference: $0, unit: runs[0].unit) })
        }
    }

    private func progress(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

/// One figure of the report: a zps median, the C median for the same shape, and their ratio.
struct ResultRow: Codable, Sendable {
    var scenario: String
    var shape: String
    var parameters: [String: String]
    var requestSize: Int?
    var metric: String
    var unit: String
    var median: Double
    var runs: [Double]
    var referenceMedian: Double?
    var referenceRuns: [Double]
    /// zps / C for rates, C / zps for latencies: above 1 means zps did better.
    var ratio: Double?

    /// How a zps figure compares with the C figure in `unit`. Latencies are better when lower, so
    /// their ratio is C / zps: above 1 means zps did better either way.
    static func ratio(zps: Double, reference: Double, unit: String) -> Double {
        unit == "us" ? reference / zps : zps / reference
    }
}
