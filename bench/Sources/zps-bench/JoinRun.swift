import Foundation
import Logging
import ParameterServer
import Synchronization

/// One join: a cluster of an in-process manager, one in-process worker and three `zps server`
/// processes with `replication: 1`, one `add` table of `keysPerServer` keys per server, every key
/// written once; under a steady push load a fourth `zps server --join` process is started, and the
/// run measures how long the load takes to get its throughput back (docs/FAULT-TOLERANCE.md, "Joins").
///
/// The worker fills the table (every key once, 100K keys per push) and then pushes 10K-key
/// requests spread over the key space, 4 in flight, recording when each is acknowledged. The
/// baseline is the acknowledged keys per second over the `baseline` before the joiner starts. The
/// switch is when the manager publishes the final chains (its `joined in` line). Throughput is
/// back at the start of the first window of `window` that begins at or after the switch and in
/// which the acknowledged keys per second reach 95% of the baseline; both figures count from the
/// joiner's start (process start, registration, catch-up, drain). The load goes on for `after`
/// past the switch; then the worker reads its keys back and compares each with the exact count of
/// its pushes: a lost or doubled push fails the run.
struct JoinRun {
    /// What one join measured, or why it failed.
    struct Outcome: Sendable {
        /// Joiner start → the manager's switch table.
        var switched: Duration?
        /// Joiner start → throughput back to 95% of the baseline.
        var recovered: Duration?
        /// Acknowledged keys/s before the join.
        var baseline: Double = 0
        /// The lowest keys/s of a window between the joiner's start and the recovery.
        var lowest: Double = 0
        var loadPushes = 0
        /// The manager's own line on the join.
        var managerLine = ""
        var failure: String?
    }

    private struct State: Sendable {
        var filled = false
        var acknowledged: [ContinuousClock.Instant] = []
        var switchedAt: ContinuousClock.Instant?
        var managerLine = ""
        var done = false
        var failures: [String] = []
        var loadPushes = 0
        var jobFailure: String?
    }

    private final class Shared: Sendable {
        let state = Mutex(State())
        func fail(_ reason: String) { state.withLock { $0.failures.append(reason) } }
    }

    static let tableID = FailoverRun.tableID
    static let servers = 3
    static let loadKeys = 10_000
    static let loadWindow = 4
    static let baseline: Duration = .seconds(2)
    static let window: Duration = .milliseconds(500)
    static let after: Duration = .seconds(4)
    /// The share of the baseline throughput that counts as back.
    static let level = 0.95

    let keysPerServer: Int
    let seed: UInt64
    let settings: FailoverSettings

    /// Runs the cluster, lets a fourth server join, and tears everything down.
    func measure() async throws -> Outcome {
        let keySpace = UInt64(Self.servers * keysPerServer)
        let (directory, topologyPath, topology) = try ProcessCluster.prepare(
            run: "join", keysPerServer: keysPerServer, seed: seed, settings: settings, workers: 1)

        let shared = Shared()
        let quiet = Logger(label: "zps-bench") { _ in SwiftLogNoOpLogHandler() }
        let managerLogger = Logger(label: "zps-bench.manager") { _ in
            LineLogHandler { line in
                let now = ContinuousClock.now
                if line.contains(" joined in ") {
                    shared.state.withLock { state in
                        if state.switchedAt == nil {
                            state.switchedAt = now
                            state.managerLine = line
                        }
                    }
                } else if line.contains("stopped sending heartbeats") || line.contains("died while joining") {
                    shared.fail("manager: \(line)")
                }
            }
        }
        var managerSettings = ManagerSettings(
            bindEndpoint: "tcp://127.0.0.1:*", servers: Self.servers, workers: 1, keySpace: KeyRange(0, keySpace),
            deadlines: topology.deadlines)
        managerSettings.replication = 1
        managerSettings.virtualNodes = topology.servers.virtualNodes
        var servers: [ServerProcess] = []
        defer { for server in servers { server.kill() } }
        var joinedAt: ContinuousClock.Instant?

        let loadSets = KeySets(count: Self.loadKeys, keySpace: keySpace).keys
        try await withThrowingTaskGroup(of: Void.self) { group in
            let managerEndpoint = try await ProcessCluster.start(
                manager: managerSettings, logger: managerLogger, group: &group, fail: shared.fail,
                jobFailed: { failure in shared.state.withLock { $0.jobFailure = failure } },
                executable: settings.zpsExecutable, topology: topologyPath, directory: directory, servers: &servers)
            let workerSettings = NodeSettings(
                role: .worker, rank: 0, managerEndpoint: managerEndpoint, bindEndpoint: "tcp://127.0.0.1:*",
                tables: topology.tables, deadlines: topology.deadlines)
            group.addTask {
                do {
                    try await WorkerNode(settings: workerSettings, logger: quiet) { worker in
                        try await Self.load(worker, keySpace: keySpace, sets: loadSets, shared: shared)
                    }.run()
                } catch {
                    shared.fail("worker-0: \(error)")
                }
            }

            // The join, once the load has run for the baseline.
            try await ProcessCluster.waitForSetUp { shared.state.withLock { $0.filled || !$0.failures.isEmpty } }
            if shared.state.withLock({ $0.filled && $0.failures.isEmpty }) {
                try await Task.sleep(for: Self.baseline + .milliseconds(Int(seed % 100)))
                joinedAt = ContinuousClock.now
                servers.append(try ServerProcess(
                    executable: settings.zpsExecutable, topology: topologyPath, rank: Self.servers, manager: managerEndpoint,
                    directory: directory, joining: true))
                let patience = ContinuousClock.now + settings.probePatience * 3
                while ContinuousClock.now < patience {
                    let (switched, failed) = shared.state.withLock { ($0.switchedAt, !$0.failures.isEmpty) }
                    if failed { break }
                    if let switched, ContinuousClock.now - switched >= Self.after { break }
                    try await Task.sleep(for: .milliseconds(20))
                }
                if shared.state.withLock({ $0.switchedAt == nil }) {
                    shared.fail("the join did not finish within \(settings.probePatience * 3)")
                }
            } else {
                shared.fail("the cluster did not reach a steady load within 300 s")
            }
            shared.state.withLock { $0.done = true }
            try await group.waitForAll()
        }
        await ProcessCluster.finish(servers: servers, jobFailure: shared.state.withLock { $0.jobFailure }, fail: shared.fail)

        let state = shared.state.withLock { $0 }
        var outcome = Outcome(loadPushes: state.loadPushes, managerLine: state.managerLine)
        if let joinedAt, let switchedAt = state.switchedAt {
            outcome.switched = switchedAt - joinedAt
            let figures = Self.throughput(
                acknowledged: state.acknowledged, joinedAt: joinedAt, switchedAt: switchedAt)
            outcome.baseline = figures.baseline
            outcome.lowest = figures.lowest
            outcome.recovered = figures.recovered.map { $0 - joinedAt }
            if outcome.recovered == nil {
                shared.fail(String(
                    format: "throughput not back to %.0f%% of %.0f keys/s within %.1f s of the switch",
                    Self.level * 100, figures.baseline, Self.after.seconds))
            }
        }
        let failures = shared.state.withLock { $0.failures }
        if failures.isEmpty {
            try? FileManager.default.removeItem(at: directory)
        } else {
            outcome.failure = failures.joined(separator: "; ") + " (server logs in \(directory.path))"
        }
        return outcome
    }

    /// The baseline keys/s, the lowest window from the join to the recovery, and the start of the
    /// first window after the switch at 95% of the baseline, from the instants of the acknowledgements.
    static func throughput(
        acknowledged: [ContinuousClock.Instant], joinedAt: ContinuousClock.Instant, switchedAt: ContinuousClock.Instant
    ) -> (baseline: Double, lowest: Double, recovered: ContinuousClock.Instant?) {
        let acks = acknowledged.sorted()
        func rate(from start: ContinuousClock.Instant, for length: Duration) -> Double {
            let end = start + length
            let count = acks.reduce(0) { $0 + ($1 >= start && $1 < end ? 1 : 0) }
            return Double(count * loadKeys) / length.seconds
        }
        let baseline = rate(from: joinedAt - Self.baseline, for: Self.baseline)
        let last = acks.last ?? switchedAt
        // Windows start at the switch and at every acknowledgement after it.
        let starts = [switchedAt] + acks.filter { $0 > switchedAt && $0 + window <= last }
        let recovered = starts.first { rate(from: $0, for: window) >= level * baseline }
        var lowest = Double.infinity
        var start = joinedAt
        while start <= (recovered ?? last), start + window <= last {
            lowest = min(lowest, rate(from: start, for: window))
            start += .milliseconds(50)
        }
        return (baseline, lowest.isFinite ? lowest : 0, recovered)
    }

    /// Fills every key with 1, then pushes 1 to the load sets round-robin until the run is done,
    /// recording when each push is acknowledged, then checks every key of the sets against the
    /// count of its pushes.
    private static func load(_ worker: Worker, keySpace: UInt64, sets: [[UInt64]], shared: Shared) async throws -> String {
        _ = try await worker.waitUntilRegistered()
        try await ProcessCluster.fill(worker, keySpace: keySpace)
        shared.state.withLock { $0.filled = true }

        let ones = [Float](repeating: 1, count: loadKeys)
        var pushes = [Int](repeating: 0, count: sets.count)
        var window: [Timestamp] = []
        var round = 0
        while !shared.state.withLock({ $0.done || !$0.failures.isEmpty }) {
            let set = round % sets.count
            let timestamp = try await worker.push(table: tableID, keys: sets[set], values: ones)
            try worker.whenFinished(timestamp) { error in
                let now = ContinuousClock.now
                shared.state.withLock { state in
                    if let error { state.failures.append("a load push failed: \(error)") } else { state.acknowledged.append(now) }
                }
            }
            window.append(timestamp)
            pushes[set] += 1
            if window.count >= loadWindow { try await worker.wait(window.removeFirst()) }
            round += 1
        }
        try await worker.waitForAll()
        shared.state.withLock { $0.loadPushes = round }

        if let mismatch = try await loadReadBackMismatch(worker, table: tableID, sets: sets, pushes: pushes) { shared.fail(mismatch) }
        return "load: \(round) pushes"
    }
}
