import Foundation
import ParameterServer

/// The slow-worker workload of docs/CONSISTENCY.md with every worker a process: the workers run
/// ``SlowWorkerWorkload`` on each table in turn (one table per consistency model), then pull the
/// final table and report what they saw as `@zps result {JSON}`, which `zps run --json` keeps under
/// `worker_results`.
///
/// A table's own consistency model sets how stale the values a worker computes with may be, in
/// iterations τ: 0 under `sequential` and `bsp`, `(max_delay − 1) / 2` under `bounded_delay` (an
/// iteration is two tasks, a push and a pull, so `max_delay: 2τ + 1`), unbounded under `eventual`.
///
/// Parameters (`application:` in the topology): `iterations`, `keys` (the workload's keys
/// `0..<keys`, at most `key_space`, which they default to; keys equal to the key space put the
/// counter keys at both ends of every server's range), `compute_ms` (a normal worker's compute per iteration),
/// `slowdown` and `slow_rank` (which worker computes how many times longer), `learning_rate`,
/// `tables` (comma-separated names; every table by default).
struct ConsistencyJob: Sendable {
    let workload: SlowWorkerWorkload
    let tables: [TableSpec]
    let rank: Int
    let workers: Int

    /// The `application:` parameters the workload reads.
    static let parameterNames = ["iterations", "keys", "compute_ms", "slowdown", "slow_rank", "learning_rate", "tables"]

    init(topology: Topology, rank: Int) throws(TopologyError) {
        let application = topology.application
        workers = topology.workers.count
        // Every iteration pulls every key, so the workload stays far below the wire's limits.
        let keyLimit = Int(min(topology.keySpace, 1 << 22))
        guard let keys = try application.int("keys", in: 1...keyLimit) ?? (topology.keySpace <= 1 << 22 ? keyLimit : nil) else {
            throw application.missing("keys", expected: "an integer in 1...\(keyLimit), since key_space is larger")
        }
        let iterations = try application.int("iterations", in: 1...100_000) ?? 24
        let computeMilliseconds = try application.double("compute_ms", in: 0...60_000) ?? 2
        let slowdown = try application.int("slowdown", in: 1...1_000) ?? 5
        let slowRank = try application.int("slow_rank", in: 0...(workers - 1)) ?? 0
        let learningRate = try application.double("learning_rate", in: 0...1) ?? 0.5
        workload = SlowWorkerWorkload(
            keyCount: keys, iterations: iterations, compute: .microseconds(Int((computeMilliseconds * 1_000).rounded())),
            slowdown: slowdown, slowRank: slowRank, staleness: nil, learningRate: Float(learningRate))
        self.rank = rank

        if let names = try application.string("tables") {
            tables = try names.split(separator: ",").map { name throws(TopologyError) in
                let trimmed = name.trimmingCharacters(in: .whitespaces)
                guard let table = topology.table(named: trimmed) else {
                    throw application.invalid("tables", "no table named '\(trimmed)' (the topology has \(topology.tables.map(\.name).joined(separator: ", ")))")
                }
                return table
            }
        } else {
            tables = topology.tables
        }
        for table in tables where table.updater != "add" || table.valueLength != 1 {
            let index = topology.tables.firstIndex(of: table) ?? 0
            let field = table.updater != "add" ? "updater" : "value_length"
            throw TopologyError(
                .invalidValue, at: topology.location(of: "tables[\(index)].\(field)"), path: "tables[\(index)].\(field)",
                message: "the consistency workload counts pushes by summing them, so table '\(table.name)' must use the 'add' updater and value_length 1, not '\(table.updater)' with \(table.valueLength)")
        }
    }

    /// How many iterations old the values a worker computes with may be on `table`; `nil`: any.
    static func staleness(of table: TableSpec) -> Int? {
        switch table.consistency {
        case .sequential, .bsp: return 0
        case .boundedDelay(let maxDelay): return max(maxDelay - 1, 0) / 2
        case .eventual: return nil
        }
    }

    func run(_ worker: Worker) async throws -> String {
        var progress = ProgressReporter(rank: rank)
        let nodes = try await worker.waitUntilRegistered()
        let counters = workload.counterKeys(serverRanges: nodes.nodes(withRole: .server).flatMap(\.ranges))
        let reference = workload.reference(workers: workers, counters: counters)
        let allKeys = (0..<UInt64(workload.keyCount)).map { $0 }
        var models: [[String: Any]] = []
        var lines: [String] = []
        for (index, table) in tables.enumerated() {
            progress.report(fraction: Double(index) / Double(tables.count), "\(table.name) (\(table.consistency))", force: true)
            var tableWorkload = workload
            tableWorkload.staleness = Self.staleness(of: table)
            try await worker.barrier("start \(table.name)")
            let report = try await tableWorkload.run(on: worker, table: table, rank: rank)
            try await worker.waitForAll()
            // Every worker's pushes are applied before anyone reads the final table.
            try await worker.barrier("done \(table.name)")
            let final = try await worker.pull(table: table.id, keys: allKeys, consistency: .eventual)
            let outcome = ModelOutcome(
                table: table, staleness: tableWorkload.staleness, iterations: tableWorkload.iterations,
                report: report, final: final, counters: counters, reference: reference)
            models.append(outcome.json)
            lines.append(outcome.summary)
        }
        let result: [String: Any] = ["rank": rank, "keys": workload.keyCount, "counter_keys": counters.map { Int($0) }, "models": models]
        let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        SupervisorChannel.emit("result " + String(decoding: data, as: UTF8.self))
        progress.report(fraction: 1, "done", force: true)
        return "\(workload.iterations) iterations on \(workload.keyCount) keys\(rank == workload.slowRank ? " (slow worker)" : ""): " + lines.joined(separator: "; ")
    }
}

/// What one worker saw of one model: its staleness figures and the final table it pulled.
struct ModelOutcome {
    let table: TableSpec
    let staleness: Int?
    let iterations: Int
    let report: SlowWorkerWorkload.Report
    let final: [Float]
    let counters: [UInt64]
    let reference: [Float]

    var secondsElapsed: Double {
        let (seconds, attoseconds) = report.elapsed.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// Keys whose final value differs from the single-process reference (which only sequential and
    /// BSP are bound to reproduce).
    var referenceMismatches: Int { zip(final, reference).reduce(0) { $0 + ($1.0 == $1.1 ? 0 : 1) } }

    var json: [String: Any] {
        [
            "table": table.name,
            "consistency": table.consistency.description,
            "staleness_bound": staleness.map { $0 as Any } ?? NSNull(),
            "iterations": iterations,
            "seconds": secondsElapsed,
            "ms_per_iteration": secondsElapsed * 1_000 / Double(iterations),
            "largest_own_pushes_missing": report.largest.ownPushesMissing,
            "largest_lag_behind_slowest": report.largest.lagBehindSlowestNode,
            "own_pushes_missing": Self.histogram(report.ownPushesMissing),
            "lag_behind_slowest": Self.histogram(report.lagBehindSlowest),
            "counters_matched_iterations": report.countersMatchedIterations,
            "final_sum": FinalWeights.sum(final),
            "final_hash": FinalWeights.hash(final),
            "final_counters": counters.map { Double(final[Int($0)]) },
            "reference_mismatches": referenceMismatches,
        ]
    }

    var summary: String {
        let perIteration = String(format: "%.2f", secondsElapsed * 1_000 / Double(iterations))
        let bound = staleness.map { "≤ \($0)" } ?? "unbounded"
        return "\(table.name) [\(table.consistency)] \(perIteration) ms/iteration, own pushes missing max \(report.largest.ownPushesMissing) (\(bound)), "
            + "lag behind slowest max \(report.largest.lagBehindSlowestNode), \(referenceMismatches) keys off the sequential reference"
    }

    /// A histogram as JSON: counts by value, the value written as text.
    static func histogram(_ counts: [Int: Int]) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: counts.map { (String($0.key), $0.value) })
    }
}

/// Exact fingerprints of a pulled table, so that a test can compare it with a reference it computes
/// itself without shipping every value.
enum FinalWeights {
    /// The sum in key order, in double precision.
    static func sum(_ values: [Float]) -> Double {
        values.withUnsafeBufferPointer { buffer in buffer.reduce(0) { $0 + Double($1) } }
    }

    /// FNV-1a (64 bits) over the values' little-endian IEEE 754 bytes in key order, as 16 hex digits.
    static func hash(_ values: [Float]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        values.withUnsafeBufferPointer { buffer in
            for value in buffer {
                var bits = value.bitPattern
                for _ in 0..<4 {
                    hash = (hash ^ UInt64(bits & 0xff)) &* 0x0000_0100_0000_01b3
                    bits >>= 8
                }
            }
        }
        let digits = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
