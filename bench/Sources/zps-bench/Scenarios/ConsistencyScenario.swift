import Foundation
import ParameterServer

/// The slow-worker workload (docs/CONSISTENCY.md) under each consistency model: 2 servers, 4 workers,
/// one of them 5× slower. Reports the time per iteration of the job (its slowest worker) and of the
/// fastest worker, and the staleness the workers measured from the clocks their pulls returned.
struct ConsistencyScenario: Scenario {
    var name: String { "consistency" }
    var summary: String { "slow-worker workload: time per iteration and staleness for each consistency model" }

    /// A model, and how many iterations old the values a worker computes with may be.
    struct Model: Sendable {
        var label: String
        var consistency: ConsistencyModel
        var staleness: Int?
    }

    /// Bounded delay τ in iterations is a delay of 2τ + 1 tasks: each iteration is a push and a pull.
    static let models: [Model] = [
        Model(label: "sequential", consistency: .sequential, staleness: 0),
        Model(label: "bsp", consistency: .bsp, staleness: 0),
        Model(label: "bounded τ=0", consistency: .boundedDelay(maxDelay: 1), staleness: 0),
        Model(label: "bounded τ=1", consistency: .boundedDelay(maxDelay: 3), staleness: 1),
        Model(label: "bounded τ=4", consistency: .boundedDelay(maxDelay: 9), staleness: 4),
        Model(label: "eventual", consistency: .eventual, staleness: nil),
    ]

    static let workers = 4
    static let keyCount = 10_000

    func trials(_ options: BenchOptions) throws -> [Trial] {
        let iterations = options.quick ? 20 : 50
        return Self.models.map { model in
            Trial(
                scenario: name, shape: "\(model.label) s=2 w=\(Self.workers) slow=5x keys=\(Self.keyCount) it=\(iterations)",
                parameters: [
                    "model": model.consistency.description, "staleness": model.staleness.map(String.init) ?? "any",
                    "servers": "2", "workers": "\(Self.workers)", "slowdown": "5", "keys": "\(Self.keyCount)",
                    "iterations": "\(iterations)",
                ],
                requestSize: nil,
                measure: { try await Self.measure(model, iterations: iterations) },
                reference: nil)
        }
    }

    static func measure(_ model: Model, iterations: Int) async throws -> [Sample] {
        let table = TableSpec(name: "weights", id: 0, consistency: model.consistency)
        let workload = SlowWorkerWorkload(
            keyCount: keyCount, iterations: iterations, compute: .milliseconds(2), slowdown: 5, slowRank: workers - 1,
            staleness: model.staleness)
        let reports = try await BenchCluster.run(
            servers: 2, workers: workers, tables: [table], keySpace: KeyRange(0, UInt64(keyCount)), transport: .tcp
        ) { rank, worker in
            try await workload.run(on: worker, table: table, rank: rank)
        }
        func milliseconds(_ duration: Duration) -> Double {
            let (seconds, attoseconds) = duration.components
            return (Double(seconds) + Double(attoseconds) / 1e18) * 1000
        }
        let perIteration = reports.map { milliseconds($0.elapsed) / Double(iterations) }
        let own = reports.flatMap { report in report.ownPushesMissing.flatMap { Array(repeating: $0.key, count: $0.value) } }.sorted()
        let lag = reports.flatMap { report in report.lagBehindSlowest.flatMap { Array(repeating: $0.key, count: $0.value) } }.sorted()
        func percentile(_ values: [Int], _ p: Double) -> Double {
            values.isEmpty ? 0 : Double(values[min(values.count - 1, Int(p * Double(values.count)))])
        }
        return [
            Sample(metric: "job ms/iteration", value: perIteration.max() ?? 0, unit: "ms"),
            Sample(metric: "fastest worker ms/iteration", value: perIteration.min() ?? 0, unit: "ms"),
            Sample(metric: "own pushes missing p50", value: percentile(own, 0.5), unit: "pushes"),
            Sample(metric: "own pushes missing max", value: Double(own.last ?? 0), unit: "pushes"),
            Sample(metric: "lag behind slowest p50", value: percentile(lag, 0.5), unit: "iterations"),
            Sample(metric: "lag behind slowest p90", value: percentile(lag, 0.9), unit: "iterations"),
            Sample(metric: "lag behind slowest max", value: Double(lag.last ?? 0), unit: "iterations"),
        ]
    }
}
