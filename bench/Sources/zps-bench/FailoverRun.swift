import Foundation
import Logging
import ParameterServer
import Synchronization

/// The `failover` scenario's settings from the command line.
struct FailoverSettings: Sendable {
    /// Every node's heartbeat interval.
    var heartbeatInterval: Duration = .milliseconds(50)
    /// How long the manager waits for a server's heartbeat before it moves the server's ranges.
    var heartbeatTimeout: Duration = .milliseconds(200)
    /// Servers killed per size of store, over all repetitions.
    var kills = 11
    /// Servers joined per size of store, over all repetitions.
    var joins = 0
    /// Whether a server is stopped with SIGTERM, and leaves the job, instead of killed with SIGKILL.
    var leave = false
    /// The `zps` executable the servers run.
    var zpsExecutable = FailoverSettings.executableBesideBench()
    /// Keys per server to measure at (nil: the scenario's own).
    var sizes: [Int]?

    /// `zps` in the folder of the running zps-bench (`.build/release/zps` beside `.build/release/zps-bench`).
    static func executableBesideBench() -> String {
        let bench = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
        return bench.deletingLastPathComponent().appendingPathComponent("zps").path
    }

    /// The deadlines of the nodes: these heartbeats, generous everything else.
    var deadlines: Deadlines {
        Deadlines(
            startup: .seconds(60), request: .seconds(60), barrier: .seconds(300), shutdown: .seconds(5),
            heartbeatInterval: heartbeatInterval, heartbeatTimeout: heartbeatTimeout, job: .seconds(600))
    }

    /// How long the probe keeps trying after the kill before the run counts as failed.
    var probePatience: Duration { max(.seconds(10), heartbeatTimeout * 20) }
}

/// One kill: a cluster of an in-process manager, two in-process workers and three `zps server`
/// processes with `replication: 1`, one `add` table of `keysPerServer` keys per server, every key
/// written once; under a steady push load one server gets SIGKILL (or, with
/// ``FailoverSettings/leave``, SIGTERM, and leaves the job), and a probe measures how long its
/// range takes to answer again.
///
/// Worker 0 fills the table (every key once, 100K keys per push) and then pushes 10K-key requests
/// spread over the key space, 4 in flight, until the probe is done. Worker 1, the probe, pushes one
/// key of the victim's primary range every millisecond without waiting, and records when each push
/// is acknowledged (on the worker's I/O thread, as it happens). The fail-over time is from the kill
/// to the first acknowledgement of a probe push *issued after* the kill: a push that was answered
/// before the kill but whose acknowledgement was still on its way cannot count. The detection time
/// is from the kill to the manager's new node table (its log line). Every value pushed is 1, so at
/// the end both workers read back their keys and compare them with the exact count of their
/// pushes: a lost or doubled push fails the run.
struct FailoverRun {
    /// What one kill measured, or why it failed.
    struct Outcome: Sendable {
        var victim: Int
        var delay: Duration
        /// Kill → first acknowledged probe push issued after the kill.
        var failover: Duration?
        /// Kill → the manager published the table without the victim.
        var detection: Duration?
        var probePushes = 0
        var loadPushes = 0
        /// Servers the manager declared dead that the bench did not kill.
        var falseDetections = 0
        var failure: String?
    }

    /// What the workers, the manager's log and the killing task share.
    private struct State: Sendable {
        var filled = false
        var probeAcks = 0
        var killedAt: ContinuousClock.Instant?
        var firstAckAfterKill: ContinuousClock.Instant?
        var detectedAt: ContinuousClock.Instant?
        var probeDone = false
        var failures: [String] = []
        var probePushes = 0
        var loadPushes = 0
        var jobFailure: String?
        /// The manager's reports of silent servers.
        var managerLines: [String] = []
    }

    private final class Shared: Sendable {
        let state = Mutex(State())
        func fail(_ reason: String) { state.withLock { $0.failures.append(reason) } }
    }

    static let tableID: UInt32 = 0
    static let servers = 3
    static let fillChunk = 100_000
    static let loadKeys = 10_000
    static let loadWindow = 4

    let keysPerServer: Int
    let seed: UInt64
    let settings: FailoverSettings

    /// Runs the cluster, kills one server, and tears everything down.
    func measure() async throws -> Outcome {
        var random = SplitMixRandom(seed: seed)
        let victim = Int(random.next() % UInt64(Self.servers))
        // A random phase against the heartbeats and the load.
        let delay = Duration.milliseconds(100 + Int(random.next() % 200))
        let keySpace = UInt64(Self.servers * keysPerServer)
        let (directory, topologyPath, topology) = try ProcessCluster.prepare(
            run: "failover", keysPerServer: keysPerServer, seed: seed, settings: settings, workers: 2)

        let shared = Shared()
        let quiet = Logger(label: "zps-bench") { _ in SwiftLogNoOpLogHandler() }
        let managerLogger = Logger(label: "zps-bench.manager") { _ in
            LineLogHandler { line in
                let now = ContinuousClock.now
                if line.contains(" lost after ") || line.contains(" left the job; ") {
                    shared.state.withLock { state in if state.detectedAt == nil { state.detectedAt = now } }
                } else if line.contains("stopped sending heartbeats") {
                    // Which servers the manager gave up on, and when: a server the bench did not
                    // kill is a false detection under load.
                    shared.state.withLock { state in
                        let since = state.killedAt.map { "\(Int((now - $0).seconds * 1000)) ms after the kill" } ?? "before the kill"
                        state.managerLines.append("manager, \(since): \(line)")
                    }
                }
            }
        }
        var managerSettings = ManagerSettings(
            bindEndpoint: "tcp://127.0.0.1:*", servers: Self.servers, workers: 2, keySpace: KeyRange(0, keySpace),
            deadlines: topology.deadlines)
        managerSettings.replication = 1
        var servers: [ServerProcess] = []
        defer { for server in servers { server.kill() } }

        let loadSets = KeySets(count: Self.loadKeys, keySpace: keySpace).keys
        try await withThrowingTaskGroup(of: Void.self) { group in
            let managerEndpoint = try await ProcessCluster.start(
                manager: managerSettings, logger: managerLogger, group: &group, fail: shared.fail,
                jobFailed: { failure in shared.state.withLock { $0.jobFailure = failure } },
                executable: settings.zpsExecutable, topology: topologyPath, directory: directory, servers: &servers)
            for rank in 0..<2 {
                let workerSettings = NodeSettings(
                    role: .worker, rank: rank, managerEndpoint: managerEndpoint, bindEndpoint: "tcp://127.0.0.1:*",
                    tables: topology.tables, deadlines: topology.deadlines)
                group.addTask {
                    do {
                        try await WorkerNode(settings: workerSettings, logger: quiet) { worker in
                            rank == 0
                                ? try await Self.load(worker, keySpace: keySpace, sets: loadSets, shared: shared)
                                : try await Self.probe(
                                    worker, victim: victim, avoiding: Set(loadSets.joined()), patience: settings.probePatience,
                                    shared: shared)
                        }.run()
                    } catch {
                        shared.fail("worker-\(rank): \(error)")
                    }
                }
            }

            // The kill, once both workers run and the probe has been answered a few times.
            try await ProcessCluster.waitForSetUp {
                shared.state.withLock { ($0.filled && $0.probeAcks >= 20) || !$0.failures.isEmpty }
            }
            if shared.state.withLock({ $0.filled && $0.failures.isEmpty }) {
                try await Task.sleep(for: delay)
                let killedAt = ContinuousClock.now
                if settings.leave { servers[victim].terminate() } else { servers[victim].kill() }
                shared.state.withLock { $0.killedAt = killedAt }
            } else {
                shared.fail("the cluster did not reach a steady load within 300 s")
                for server in servers { server.kill() }
            }
            try await group.waitForAll()
        }
        await ProcessCluster.finish(
            servers: servers.filter { $0.rank != victim }, jobFailure: shared.state.withLock { $0.jobFailure }, fail: shared.fail)

        let state = shared.state.withLock { $0 }
        var outcome = Outcome(victim: victim, delay: delay, probePushes: state.probePushes, loadPushes: state.loadPushes)
        if let killedAt = state.killedAt {
            outcome.failover = state.firstAckAfterKill.map { $0 - killedAt }
            outcome.detection = state.detectedAt.map { $0 - killedAt }
            if outcome.failover == nil {
                shared.fail("no probe push issued after the kill was acknowledged within \(settings.probePatience)")
            }
            if outcome.detection == nil { shared.fail("the manager never reported server-\(victim) lost") }
        }
        let (failures, managerLines) = shared.state.withLock { ($0.failures, $0.managerLines) }
        let falseDetections = managerLines.filter { !$0.contains("server-\(victim) ") }
        outcome.falseDetections = falseDetections.count
        if failures.isEmpty {
            try? FileManager.default.removeItem(at: directory)
        } else {
            outcome.failure = (failures + managerLines).joined(separator: "; ") + " (server logs in \(directory.path))"
        }
        return outcome
    }

    /// The topology of the bench's clusters: `servers` servers and `workers` workers on ephemeral
    /// loopback ports, `replication: 1`, one `add` table over `keySpace`, the heartbeats of `settings`.
    static func writeTopology(in directory: URL, keySpace: UInt64, settings: FailoverSettings, workers: Int) throws -> String {
        func milliseconds(_ duration: Duration) -> Int { Int(duration.seconds * 1000) }
        let yaml = """
            name: failover-bench
            manager: { host: 127.0.0.1, port: 0 }
            servers: { count: \(Self.servers), host: 127.0.0.1, port: 0 }
            workers: { count: \(workers), host: 127.0.0.1, port: 0 }
            key_space: \(keySpace)
            replication: 1
            tables:
              - { name: weights, id: \(Self.tableID), value_length: 1, updater: add, consistency: eventual }
            deadlines:
              startup: 60s
              request: 60s
              barrier: 300s
              shutdown: 5s
              heartbeat_interval: \(milliseconds(settings.heartbeatInterval))ms
              heartbeat_timeout: \(milliseconds(settings.heartbeatTimeout))ms
              job: 600s
            application:
              kind: pushpull

            """
        let path = directory.appendingPathComponent("topology.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Worker 0: fills every key with 1, then pushes 1 to the load sets round-robin until the probe
    /// is done, then checks every key of the sets against the count of its pushes.
    private static func load(_ worker: Worker, keySpace: UInt64, sets: [[UInt64]], shared: Shared) async throws -> String {
        _ = try await worker.waitUntilRegistered()
        try await ProcessCluster.fill(worker, keySpace: keySpace)
        try await worker.barrier("filled")
        shared.state.withLock { $0.filled = true }

        let ones = [Float](repeating: 1, count: loadKeys)
        var pushes = [Int](repeating: 0, count: sets.count)
        var window: [Timestamp] = []
        var round = 0
        while !shared.state.withLock({ $0.probeDone || !$0.failures.isEmpty }) {
            let set = round % sets.count
            window.append(try await worker.push(table: tableID, keys: sets[set], values: ones))
            pushes[set] += 1
            if window.count >= loadWindow { try await worker.wait(window.removeFirst()) }
            round += 1
        }
        try await worker.waitForAll()
        shared.state.withLock { $0.loadPushes = round }

        if let mismatch = try await loadReadBackMismatch(worker, table: tableID, sets: sets, pushes: pushes) { shared.fail(mismatch) }
        return "load: \(round) pushes"
    }

    /// Worker 1: one-key pushes of 1 to keys of the victim's primary range every millisecond, each
    /// acknowledgement timed as it arrives; stops 100 ms after the first acknowledgement of a push
    /// issued after the kill (or after `patience`), then checks its keys. The keys are none of the
    /// load's (`avoiding`), so that each one's exact value is the count of the probe's pushes.
    private static func probe(
        _ worker: Worker, victim: Int, avoiding loadKeys: Set<UInt64>, patience: Duration, shared: Shared
    ) async throws -> String {
        let table = try await worker.waitUntilRegistered()
        guard let range = table.nodes(withRole: .server).first(where: { $0.rank == victim })?.ranges.first else {
            throw BenchError("server-\(victim) holds no range in the first node table")
        }
        let keys = (1...4).map { slot in
            var key = range.lowerBound + UInt64(slot) * (range.count / 5)
            while loadKeys.contains(key) { key += 1 }
            return key
        }
        try await worker.barrier("filled")
        var pushes = [Int](repeating: 0, count: keys.count)
        var issuedCount = 0
        while true {
            let issued = ContinuousClock.now
            let slot = issuedCount % keys.count
            let timestamp = try await worker.push(table: tableID, keys: [keys[slot]], values: [1])
            pushes[slot] += 1
            issuedCount += 1
            try worker.whenFinished(timestamp) { error in
                let acknowledged = ContinuousClock.now
                shared.state.withLock { state in
                    if let error {
                        state.failures.append("a probe push failed: \(error)")
                        return
                    }
                    state.probeAcks += 1
                    if let killedAt = state.killedAt, issued >= killedAt,
                        state.firstAckAfterKill.map({ acknowledged < $0 }) ?? true
                    {
                        state.firstAckAfterKill = acknowledged
                    }
                }
            }
            let (killedAt, firstAck, failed) = shared.state.withLock { ($0.killedAt, $0.firstAckAfterKill, !$0.failures.isEmpty) }
            if failed { break }
            if let killedAt {
                if let firstAck, ContinuousClock.now - firstAck > .milliseconds(100) { break }
                if ContinuousClock.now - killedAt > patience { break }
            }
            try await Task.sleep(for: .milliseconds(1))
        }
        shared.state.withLock {
            $0.probeDone = true
            $0.probePushes = issuedCount
        }
        try await worker.waitForAll()
        let values = try await worker.pull(table: tableID, keys: keys)
        for (index, key) in keys.enumerated() where values[index] != Float(1 + pushes[index]) {
            shared.fail("probe key \(key) holds \(values[index]), expected \(1 + pushes[index]): a push was lost or applied twice")
        }
        return "probe: \(issuedCount) pushes"
    }
}

/// SplitMix64: the seeded choices of the bench (which server dies, when).
struct SplitMixRandom {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
