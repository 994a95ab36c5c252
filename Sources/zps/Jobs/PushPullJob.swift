import Foundation
import ParameterServer

/// The push/pull check: every worker pushes known values to overlapping keys of every table, round
/// after round; after a barrier each worker pulls every key and compares it with the exact sum all
/// workers' pushes must have produced. Values are small integers, so float sums are exact and any
/// lost, duplicated or misrouted push shows as a mismatch.
///
/// Parameters (`application:` in the topology): `keys` (distinct keys per table, spread evenly over
/// the key space), `rounds`, `batch` (keys per request), `inflight` (requests in flight per worker).
struct PushPullJob: Sendable {
    let keys: Int
    let rounds: Int
    let batch: Int
    let inflight: Int
    let rank: Int
    let workers: Int
    let stride: UInt64
    let tables: [TableSpec]

    /// The `application:` parameters the check reads.
    static let parameterNames = ["keys", "rounds", "batch", "inflight"]

    init(topology: Topology, rank: Int) throws(TopologyError) {
        let application = topology.application
        keys = try application.int("keys", in: 1...(1 << 30)) ?? 1_000_000
        rounds = try application.int("rounds", in: 1...1000) ?? 3
        batch = try application.int("batch", in: 1...(1 << 26)) ?? 100_000
        inflight = try application.int("inflight", in: 1...1024) ?? 8
        self.rank = rank
        workers = topology.workers.count
        guard UInt64(keys) <= topology.keySpace else {
            throw application.invalid("keys", "expected at most key_space = \(topology.keySpace) keys, found \(keys)")
        }
        stride = topology.keySpace / UInt64(keys)
        tables = topology.tables
        for table in tables where table.updater != "add" {
            throw TopologyError(
                .invalidValue, at: topology.location(of: "tables"), path: "tables",
                message: "the pushpull check sums pushes, so table '\(table.name)' must use the 'add' updater, not '\(table.updater)'")
        }
    }

    /// Whether worker `w` pushes key index `k` (every key is pushed by some workers, most by several).
    static func pushes(worker w: Int, key k: Int) -> Bool { (k + w) % 4 != 0 }

    /// The value worker `w` pushes to component `j` of key index `k` in round `r`.
    static func value(worker w: Int, key k: Int, round r: Int, component j: Int) -> Float {
        Float(k % 13 + 2 * w + r + j + 1)
    }

    func run(_ worker: Worker) async throws -> String {
        var progress = ProgressReporter(rank: rank)
        let mine = (0..<keys).filter { Self.pushes(worker: rank, key: $0) }
        let batches = stride(over: mine.count)
        let totalSteps = Double(tables.count * (rounds * batches.count + stride(over: keys).count))
        var step = 0.0
        let pushStart = ContinuousClock.now
        var pushedKeys = 0
        for table in tables {
            let width = table.valueLength
            for round in 0..<rounds {
                var pending: [Timestamp] = []
                for range in batches {
                    let indices = mine[range]
                    let keyList = indices.map { UInt64($0) * self.stride }
                    var values = [Float](repeating: 0, count: indices.count * width)
                    for (i, k) in indices.enumerated() {
                        for j in 0..<width { values[i * width + j] = Self.value(worker: rank, key: k, round: round, component: j) }
                    }
                    if pending.count == inflight { try await worker.wait(pending.removeFirst()) }
                    pending.append(try await worker.push(table: table.id, keys: keyList, values: values))
                    pushedKeys += indices.count
                    step += 1
                    progress.report(fraction: step / totalSteps, "push \(table.name) round \(round + 1)/\(rounds)")
                }
                for timestamp in pending { try await worker.wait(timestamp) }
            }
        }
        let pushSeconds = seconds(since: pushStart)
        try await worker.barrier("pushed")

        let pullStart = ContinuousClock.now
        var pulledKeys = 0
        var mismatches: [String] = []
        var mismatchCount = 0
        for table in tables {
            let width = table.valueLength
            var pending: [(range: Range<Int>, task: Task<[Float], any Error>)] = []
            // Off the worker's I/O thread, which must keep answering and sending heartbeats.
            let (name, workers, rounds, keyStride) = (table.name, self.workers, self.rounds, self.stride)
            func check(_ range: Range<Int>, _ values: [Float]) async {
                let found = await Task.detached {
                    Self.mismatches(
                        in: range, values: values, table: name, width: width, workers: workers, rounds: rounds, stride: keyStride)
                }.value
                mismatchCount += found.count
                mismatches += found.examples.prefix(3 - mismatches.count)
            }
            for range in stride(over: keys) {
                let keyList = range.map { UInt64($0) * self.stride }
                let tableID = table.id
                if pending.count == inflight {
                    let first = pending.removeFirst()
                    await check(first.range, try await first.task.value)
                }
                pending.append((range, Task { try await worker.pull(table: tableID, keys: keyList) }))
                pulledKeys += range.count
                step += 1
                progress.report(fraction: step / totalSteps, "pull \(table.name) and check")
            }
            for (range, task) in pending { await check(range, try await task.value) }
        }
        let pullSeconds = seconds(since: pullStart)
        progress.report(fraction: 1, "done", force: true)
        guard mismatchCount == 0 else {
            throw PushPullMismatch(description: "\(mismatchCount) pulled values differ from the pushed sums, e.g. \(mismatches.joined(separator: "; "))")
        }
        let result: [String: Any] = [
            "rank": rank, "keys": keys, "tables": tables.count, "rounds": rounds, "pushed_keys": pushedKeys,
            "pulled_keys": pulledKeys, "push_seconds": pushSeconds, "pull_seconds": pullSeconds,
            "push_keys_per_second": pushSeconds > 0 ? Double(pushedKeys) / pushSeconds : 0,
            "pull_keys_per_second": pullSeconds > 0 ? Double(pulledKeys) / pullSeconds : 0,
        ]
        let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        SupervisorChannel.emit("result " + String(decoding: data, as: UTF8.self))
        let tableNames = tables.map { "\($0.name)×\($0.valueLength)" }.joined(separator: ", ")
        return "checked \(keys) keys of \(tables.count) table(s) (\(tableNames)) after \(rounds) round(s): all exact; "
            + "push \(rate(pushedKeys, pushSeconds)) keys/s, pull \(rate(pulledKeys, pullSeconds)) keys/s"
    }

    /// How many of the pulled `values` of key indices `range` differ from the sums of the pushes,
    /// and the first three of them, described.
    static func mismatches(
        in range: Range<Int>, values: [Float], table: String, width: Int, workers: Int, rounds: Int, stride: UInt64
    ) -> (count: Int, examples: [String]) {
        var count = 0
        var examples: [String] = []
        for k in range {
            for j in 0..<width {
                var expected: Float = 0
                for w in 0..<workers where pushes(worker: w, key: k) {
                    for r in 0..<rounds { expected += value(worker: w, key: k, round: r, component: j) }
                }
                let got = values[(k - range.lowerBound) * width + j]
                if got != expected {
                    count += 1
                    if examples.count < 3 {
                        examples.append("table \(table) key \(UInt64(k) * stride)[\(j)]: expected \(expected), pulled \(got)")
                    }
                }
            }
        }
        return (count, examples)
    }

    private func stride(over count: Int) -> [Range<Int>] {
        Swift.stride(from: 0, to: count, by: batch).map { $0..<min($0 + batch, count) }
    }

    private func seconds(since start: ContinuousClock.Instant) -> Double {
        let (s, atto) = (ContinuousClock.now - start).components
        return Double(s) + Double(atto) / 1e18
    }

    private func rate(_ count: Int, _ seconds: Double) -> String {
        let perSecond = seconds > 0 ? Double(count) / seconds : 0
        return perSecond >= 1e6 ? String(format: "%.2f M", perSecond / 1e6) : String(format: "%.0f", perSecond)
    }
}

/// The pulled values did not equal the sums of the pushes.
struct PushPullMismatch: Error, CustomStringConvertible {
    let description: String
}
