import Foundation
import ParameterServer
import Synchronization

/// Fault tolerance under `replication: 1` (docs/FAULT-TOLERANCE.md, issue 15 part 5):
///
/// - the fail-over time: SIGKILL of one of three `zps server` processes under a steady push load,
///   to the first acknowledged push on the range it was primary of (``FailoverRun``), at 10^5, 10^6
///   and 10^7 keys per server, with the detection (kill to the manager's new node table) apart;
/// - the cost of replication: push/pull keys/s of 100K-key requests, 3 servers and 4 workers, with
///   k=1 against k=0 in the same repetition, and the bytes the servers sent down their chains
///   against the bytes the workers pushed;
/// - the join: a fourth `zps server --join` under a steady push load (``JoinRun``), seconds from
///   its start to the manager's switch table and until the push throughput is back to 95% of its
///   level before the join, at the same sizes.
struct FailoverScenario: Scenario {
    var name: String { "failover" }
    var summary: String { "kill -9 of a server under load: time to the first acknowledged push on its range; k=1 vs k=0 throughput and replica bytes" }

    static let overheadKeys = 100_000
    static let overheadWindow = 8
    static let overheadServers = 3
    static let overheadWorkers = 4

    /// The fail-over shapes: keys per server.
    static func sizes(_ options: BenchOptions) -> [Int] {
        options.failover.sizes ?? (options.quick ? [100_000, 1_000_000] : [100_000, 1_000_000, 10_000_000])
    }

    func trials(_ options: BenchOptions) throws -> [Trial] {
        let rounds = PushPullScenario.rounds(keys: Self.overheadKeys, options: options)
        let sets = KeySets(count: Self.overheadKeys)
        // The throughput shapes first: the runner's warm-up run is then a short one.
        var trials = [0, 1].map { replication in
            Trial(
                scenario: name, shape: Self.overheadShape(replication: replication),
                parameters: [
                    "keys": "\(Self.overheadKeys)", "inflight": "\(Self.overheadWindow)", "servers": "\(Self.overheadServers)",
                    "workers": "\(Self.overheadWorkers)", "replication": "\(replication)", "rounds": "\(rounds)", "transport": "tcp",
                ],
                requestSize: nil,
                measure: { try await Self.measureOverhead(replication: replication, sets: sets, rounds: rounds) },
                reference: nil)
        }
        let settings = options.failover
        if settings.joins > 0 {
            let joinsPerRepetition = ((options.quick ? min(settings.joins, 2) : settings.joins) + options.repetitions - 1) / options.repetitions
            for keysPerServer in Self.sizes(options) {
                let next = KillCounter()
                trials.append(Trial(
                    scenario: name, shape: Self.joinShape(keysPerServer: keysPerServer),
                    parameters: [
                        "keys_per_server": "\(keysPerServer)", "servers": "3+1", "workers": "1", "replication": "1",
                        "heartbeat_interval": DurationText.format(settings.heartbeatInterval),
                        "heartbeat_timeout": DurationText.format(settings.heartbeatTimeout),
                        "joins": "\(joinsPerRepetition * options.repetitions)", "load": "10K-key pushes, 4 in flight",
                    ],
                    requestSize: nil,
                    measure: {
                        var samples: [Sample] = []
                        for _ in 0..<joinsPerRepetition {
                            let join = next.take()
                            let seed = UInt64(keysPerServer) &* 1_000 &+ UInt64(join)
                            samples += try await Self.measureJoin(keysPerServer: keysPerServer, seed: seed, settings: settings)
                        }
                        return samples
                    },
                    reference: nil))
            }
        }
        // `--kills 0`: no kills.
        guard settings.kills > 0 else { return trials }
        let total = options.quick ? min(settings.kills, 3) : settings.kills
        let killsPerRepetition = (total + options.repetitions - 1) / options.repetitions
        for keysPerServer in Self.sizes(options) {
            let next = KillCounter()
            trials.append(Trial(
                scenario: name, shape: Self.failoverShape(keysPerServer: keysPerServer, leave: settings.leave),
                parameters: [
                    "keys_per_server": "\(keysPerServer)", "servers": "3", "workers": "2", "replication": "1",
                    "heartbeat_interval": DurationText.format(settings.heartbeatInterval),
                    "heartbeat_timeout": DurationText.format(settings.heartbeatTimeout),
                    "kills": "\(killsPerRepetition * options.repetitions)", "load": "10K-key pushes, 4 in flight",
                    "stop": Self.stop(leave: settings.leave),
                ],
                requestSize: nil,
                measure: {
                    var samples: [Sample] = []
                    for _ in 0..<killsPerRepetition {
                        let kill = next.take()
                        let seed = UInt64(keysPerServer) &* 1_000 &+ UInt64(kill)
                        samples += try await Self.measureKill(keysPerServer: keysPerServer, seed: seed, settings: settings)
                    }
                    return samples
                },
                reference: nil))
        }
        return trials
    }

    static func overheadShape(replication: Int) -> String {
        "N=\(overheadKeys) inflight=\(overheadWindow) s=\(overheadServers) w=\(overheadWorkers) k=\(replication)"
    }

    static func failoverShape(keysPerServer: Int, leave: Bool = false) -> String {
        "\(stop(leave: leave)) keys/server=\(keysPerServer) s=3 k=1"
    }

    /// How the bench stops a server: `kill -9`, or SIGTERM, after which it leaves the job.
    static func stop(leave: Bool) -> String { leave ? "SIGTERM" : "kill -9" }

    static func joinShape(keysPerServer: Int) -> String {
        "join keys/server=\(keysPerServer) s=3+1 k=1"
    }

    // MARK: Measurements

    /// One kill as samples; a failed kill is a `failed kills` sample of 1 and a line on standard error.
    static func measureKill(keysPerServer: Int, seed: UInt64, settings: FailoverSettings) async throws -> [Sample] {
        let outcome = try await FailoverRun(keysPerServer: keysPerServer, seed: seed, settings: settings).measure()
        func milliseconds(_ duration: Duration) -> Double { duration.seconds * 1000 }
        let what = "keys/server=\(keysPerServer) seed=\(seed): server-\(outcome.victim), kill \(Int(milliseconds(outcome.delay))) ms into the load"
        guard outcome.failure == nil, let failover = outcome.failover, let detection = outcome.detection else {
            progress("  FAILED \(what): \(outcome.failure ?? "no figures")")
            return [Sample(metric: "failed kills", value: 1, unit: "kills")]
        }
        progress(String(
            format: "  %@: fail-over %.1f ms (detection %.1f ms); %d probe and %d load pushes, exact",
            what, milliseconds(failover), milliseconds(detection), outcome.probePushes, outcome.loadPushes))
        return [
            Sample(metric: "fail-over ms", value: milliseconds(failover), unit: "ms"),
            Sample(metric: "detection ms", value: milliseconds(detection), unit: "ms"),
            Sample(metric: "after detection ms", value: milliseconds(failover - detection), unit: "ms"),
            Sample(metric: "detection share", value: 100 * detection.seconds / failover.seconds, unit: "%"),
            Sample(metric: "failed kills", value: 0, unit: "kills"),
        ]
    }

    /// One join as samples; a failed join is a `failed joins` sample of 1 and a line on standard error.
    static func measureJoin(keysPerServer: Int, seed: UInt64, settings: FailoverSettings) async throws -> [Sample] {
        let outcome = try await JoinRun(keysPerServer: keysPerServer, seed: seed, settings: settings).measure()
        let what = "keys/server=\(keysPerServer) seed=\(seed): join"
        guard outcome.failure == nil, let switched = outcome.switched, let recovered = outcome.recovered else {
            progress("  FAILED \(what): \(outcome.failure ?? "no figures")")
            return [Sample(metric: "failed joins", value: 1, unit: "joins")]
        }
        progress(String(
            format: "  %@: switch after %.2f s, throughput back after %.2f s (%.0f keys/s before, lowest %.0f); %d load pushes, exact; manager: %@",
            what, switched.seconds, recovered.seconds, outcome.baseline, outcome.lowest, outcome.loadPushes, outcome.managerLine))
        return [
            Sample(metric: "join switch s", value: switched.seconds, unit: "s"),
            Sample(metric: "join back to 95% s", value: recovered.seconds, unit: "s"),
            Sample(metric: "join keys/s before", value: outcome.baseline, unit: "keys/s"),
            Sample(metric: "join lowest keys/s", value: outcome.lowest, unit: "keys/s"),
            Sample(metric: "failed joins", value: 0, unit: "joins"),
        ]
    }

    /// The push/pull shape on 3 in-process servers and 4 workers with `replication`; with k ≥ 1 also
    /// the servers' replication counters (read from the line each logs at its end) against the
    /// workers' pushed keys.
    static func measureOverhead(replication: Int, sets: KeySets, rounds: Int) async throws -> [Sample] {
        let table = TableSpec(name: "bench", id: 1)
        let replicated = Mutex((keys: 0, bytes: 0))
        let results = try await BenchCluster.run(
            servers: overheadServers, workers: overheadWorkers, tables: [table],
            keySpace: KeyRange(0, KeySets.keySpace), transport: .tcp, replication: replication,
            serverLog: { line in
                guard let counts = ReplicationLine.parse(line) else { return }
                replicated.withLock { $0 = ($0.keys + counts.keys, $0.bytes + counts.bytes) }
            }
        ) { _, worker in
            let run = try await PushPullRun.measure(
                worker: worker, table: table.id, sets: sets, rounds: rounds, window: overheadWindow, checkReadBack: false)
            return (run, try await worker.traffic().pushedKeys)
        }
        let wanted: Set<String> = [
            "push keys/s", "pull keys/s", "push p50 us", "push p99 us", "cpu us/req", "push cpu us/req",
            "worker thread cpu us/req", "server threads cpu us/req", "server libzmq cpu us/req",
        ]
        var samples = PushPullRun.samples(results.map(\.0)).filter { wanted.contains($0.metric) }
        guard replication > 0 else { return samples }
        // A push's payload: 8 bytes per key and 4 per float; a replicate carries the same keys and,
        // for `add`, the same floats (its entries are the stored values).
        let pushBytes = Double(results.map(\.1).reduce(0, +) * (8 + 4 * table.valueLength))
        let (keys, bytes) = replicated.withLock { $0 }
        guard keys > 0 else { throw BenchError("no server reported its replication traffic") }
        samples += [
            Sample(metric: "replica MB", value: Double(bytes) / 1e6, unit: "MB"),
            Sample(metric: "push MB", value: pushBytes / 1e6, unit: "MB"),
            Sample(metric: "replica/push bytes", value: Double(bytes) / pushBytes, unit: "x"),
        ]
        return samples
    }

    // MARK: Summary

    func summarize(_ rows: [ResultRow]) -> [ResultRow] {
        var summary: [ResultRow] = []
        let percentiles: Set<String> = ["fail-over ms", "detection ms", "after detection ms", "detection share"]
        for row in rows {
            if percentiles.contains(row.metric) {
                let words = row.metric.split(separator: " ")
                let (label, unit) = row.unit == "%" ? (row.metric, "") : (words.dropLast().joined(separator: " "), " " + words.last!)
                for (name, fraction) in [("p50", 0.5), ("p99", 0.99)] {
                    var derived = row
                    derived.metric = "\(label) \(name)\(unit)"
                    derived.median = Statistics.percentile(row.runs, fraction) ?? 0
                    summary.append(derived)
                }
            } else if row.metric == "failed kills" || row.metric == "failed joins" {
                var derived = row
                derived.metric = "\(row.metric) (of \(row.runs.count))"
                derived.median = row.runs.reduce(0, +)
                summary.append(derived)
            } else {
                summary.append(row)
            }
        }
        // k=1 against k=0, per repetition (the two ran one after the other) and of the medians.
        for metric in ["push keys/s", "pull keys/s"] {
            guard let base = rows.first(where: { $0.shape == Self.overheadShape(replication: 0) && $0.metric == metric }),
                let replicated = rows.first(where: { $0.shape == Self.overheadShape(replication: 1) && $0.metric == metric })
            else { continue }
            var derived = replicated
            derived.shape = Self.overheadShape(replication: 1) + " / k=0"
            derived.metric = metric.replacingOccurrences(of: " keys/s", with: "") + " k=1/k=0"
            derived.unit = "x"
            derived.median = replicated.median / base.median
            derived.runs = zip(replicated.runs, base.runs).map { $0 / $1 }
            summary.append(derived)
        }
        // Flat in the number of keys: the largest store against the smallest.
        let sizes = rows.compactMap { row in row.parameters["keys_per_server"].flatMap(Int.init) }
        if let smallest = sizes.min(), let largest = sizes.max(), smallest < largest {
            for leave in [false, true] {
            for name in ["p50", "p99"] {
                let metric = "fail-over \(name) ms"
                guard let low = summary.first(where: { $0.shape == Self.failoverShape(keysPerServer: smallest, leave: leave) && $0.metric == metric }),
                    let high = summary.first(where: { $0.shape == Self.failoverShape(keysPerServer: largest, leave: leave) && $0.metric == metric }),
                    low.median > 0
                else { continue }
                var derived = high
                derived.shape = "\(Self.stop(leave: leave)) keys/server=\(largest) / \(smallest)"
                derived.metric = "fail-over \(name) ratio"
                derived.unit = "x"
                derived.median = high.median / low.median
                derived.runs = []
                summary.append(derived)
            }
            }
        }
        return summary
    }

    func plot(_ rows: [ResultRow]) -> String? {
        FailoverPlot.svg(rows)
    }

    private static func progress(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

/// Hands out the kill numbers of one shape, which seed its kills: the i-th kill of a shape is the
/// same in every run of the bench.
private final class KillCounter: Sendable {
    private let next = Atomic<Int>(0)
    func take() -> Int { next.add(1, ordering: .relaxed).oldValue }
}

/// The line a server logs at its end under replication (`ServerCore.stopped`):
/// `server-1 replication: sent 123 keys, 1476 bytes to successors`.
enum ReplicationLine {
    static func parse(_ line: String) -> (keys: Int, bytes: Int)? {
        guard let marker = line.range(of: " replication: sent ") else { return nil }
        let words = line[marker.upperBound...].split(separator: " ")
        guard words.count >= 3, let keys = Int(words[0]), let bytes = Int(words[2]) else { return nil }
        return (keys, bytes)
    }
}
