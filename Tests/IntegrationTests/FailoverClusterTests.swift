import Foundation
import ParameterServer
import Testing

/// Servers killed with SIGKILL in the middle of real jobs under `zps run`, with `replication: 1`
/// (docs/FAULT-TOLERANCE.md): the job goes on and its own checks pass, or, beyond the fault model,
/// it fails promptly, naming the key ranges that lost every copy.
@Suite("Fail-over of real server processes", .serialized)
struct FailoverClusterTests {
    static let deadlines = Deadlines(
        startup: .seconds(60), request: .seconds(30), barrier: .seconds(60), shutdown: .seconds(5),
        heartbeatInterval: .milliseconds(100), heartbeatTimeout: .seconds(1), job: .seconds(600))
    static let deadlineLines = deadlines.named.map { "  \($0.name): \(Int($0.value.components.seconds * 1000 + $0.value.components.attoseconds / 1_000_000_000_000_000))ms\n" }.joined()
    /// Room for a loaded two-core machine.
    static let slack: Duration = .seconds(3)

    /// `zps run` of the push/pull check on 3 servers with `replication: 1` and 2 workers, long
    /// enough to be killed into; returns it once its 6 processes run and the workers push.
    static func startReplicatedRun(_ name: String, rounds: Int, replication: Int = 1) async throws -> (NodeProcess, [String: Int32]) {
        let directory = try ClusterSupport.temporaryDirectory(name)
        let topology = try ClusterSupport.writeTopology(
            in: directory, servers: 3, workers: 2, keySpace: 1 << 20, tables: [("weights", 1), ("embeddings", 2)],
            deadlines: deadlineLines, application: "kind: pushpull\nkeys: 200000\nrounds: \(rounds)\nbatch: 20000\ninflight: 4",
            replication: replication)
        #expect(try Topology.load(path: topology).deadlines == deadlines)
        let run = try NodeProcess("run", arguments: ["run", topology], directory: directory)
        let children = try await ClusterSupport.waitForChildren(of: run, count: 6, outputContaining: "zps: starting")
        var roles = try await ClusterSupport.roles(of: children)
        // Registration takes milliseconds once every process runs.
        try await Task.sleep(for: .seconds(1))
        roles = roles.filter { processExists($0.value) }
        #expect(roles.keys.sorted() == ["manager", "server-0", "server-1", "server-2", "worker-0", "worker-1"], "children: \(roles); zps run said: \(run.errors.suffix(3000))")
        return (run, roles)
    }

    /// ``startReplicatedRun(_:rounds:replication:)`` of 30 rounds, and `signal` to one of its
    /// servers up to 1.5 s after the first push, both drawn from `seed`; returns once `zps run`
    /// exited, with its status and all it printed (progress and errors go to standard error, the
    /// summary to standard output).
    static func signalOneServer(_ signal: Int32, seed: UInt64, name: String) async throws
        -> (victim: String, pid: Int32, delay: Duration, status: Int32?, printed: String, children: [Int32])
    {
        var random = SplitMix64(seed: seed)
        let victim = "server-\(random.next() % 3)"
        let delay = Duration.milliseconds(Int(random.next() % 1500))
        let (run, roles) = try await startReplicatedRun(name, rounds: 30)
        defer { run.kill() }
        try await Task.sleep(for: delay)
        let pid = try #require(roles[victim])
        kill(pid, signal)
        let status = try await run.waitForExit(within: .seconds(180))
        return (victim, pid, delay, status, run.errors + run.output, Array(roles.values))
    }

    @Test("kill -9 of one of 3 servers at a random moment: the push/pull check passes and zps run reports the recovery", arguments: [1, 2, 3] as [UInt64])
    func oneServerKilled(seed: UInt64) async throws {
        let run = try await Self.signalOneServer(SIGKILL, seed: seed, name: "failover-\(seed)")
        let (victim, printed) = (run.victim, run.printed)
        #expect(run.status == 0, "seed \(seed), \(victim) killed \(run.delay) after the first push: zps run said:\n\(printed.suffix(3000))")
        #expect(printed.contains("\(victim) (pid \(run.pid)) was killed by signal 9 (SIGKILL); replication 1 covers it"), "\(printed.suffix(2000))")
        #expect(printed.contains("recovered: \(victim) lost after "), "\(printed.suffix(2000))")
        // Each worker's own check compared every key with the exact sum of every push.
        #expect(printed.components(separatedBy: "all exact").count - 1 == 2, "\(printed.suffix(2000))")
        for child in run.children { #expect(!processExists(child), "process \(child) was left behind") }
    }

    @Test("SIGTERM to one of 3 servers at a random moment: it leaves the job, the push/pull check passes, zps run succeeds", arguments: [4, 5] as [UInt64])
    func oneServerLeaves(seed: UInt64) async throws {
        let run = try await Self.signalOneServer(SIGTERM, seed: seed, name: "leave-\(seed)")
        let (victim, printed) = (run.victim, run.printed)
        #expect(run.status == 0, "seed \(seed), \(victim) asked to stop \(run.delay) after the first push: zps run said:\n\(printed.suffix(3000))")
        #expect(printed.contains("\(victim) (pid \(run.pid)) was asked to stop and left the job"), "\(printed.suffix(2000))")
        // Taken out at its request, not after its heartbeats stopped.
        #expect(printed.contains("recovered: \(victim) left the job; promoted "), "\(printed.suffix(2000))")
        #expect(!printed.contains("lost after"), "\(printed.suffix(2000))")
        #expect(printed.components(separatedBy: "all exact").count - 1 == 2, "\(printed.suffix(2000))")
        for child in run.children { #expect(!processExists(child), "process \(child) was left behind") }
    }

    @Test("SIGTERM to a server with replication 0: it cannot leave, and the job fails naming why")
    func serverCannotLeaveWithoutReplication() async throws {
        let (run, roles) = try await Self.startReplicatedRun("no-leave", rounds: 1000, replication: 0)
        defer { run.kill() }
        let pid = try #require(roles["server-1"])
        kill(pid, SIGTERM)
        let status = try await run.waitForExit(within: .seconds(60))
        #expect(status == FailureDeadlineTests.failureStatus, "\(run.errors.suffix(2000))")
        #expect(
            run.errors.contains("server-1 was asked to stop (signal) and cannot leave the job: replication is 0: the ranges of server-1 have no copy on another server"),
            "\(run.errors.suffix(2000))")
        for child in roles.values { #expect(!processExists(child), "process \(child) was left behind") }
    }

    @Test("kill -9 of two of 3 servers at once with replication 1: the job fails within the heartbeat timeout, naming the lost range")
    func twoServersKilled() async throws {
        let (run, roles) = try await Self.startReplicatedRun("lost", rounds: 1000)
        defer { run.kill() }
        // The segments whose chain is servers 0 and 1 live on them only: killed together, before any
        // copy of those to server-2 can finish, they take them with them.
        let first = try #require(roles["server-0"])
        let second = try #require(roles["server-1"])
        kill(first, SIGKILL)
        kill(second, SIGKILL)
        let killedAt = ContinuousClock.now
        let status = try await run.waitForExit(within: Self.deadlines.heartbeatTimeout + Self.deadlines.shutdown + .seconds(2) + Self.slack)
        let failedAfter = ContinuousClock.now - killedAt
        #expect(status == FailureDeadlineTests.failureStatus, "\(run.errors.suffix(2000))")
        // The segments of the manager's ring whose chain is servers 0 and 1 (ids 1 and 2), adjacent
        // ones merged as the manager names them.
        var membership = Membership(keySpace: KeyRange(0, 1 << 20), replication: 1)
        for rank in 0..<3 { _ = try membership.join(role: .server, rank: UInt32(rank), endpoint: "server-\(rank)") }
        var lost: [KeyRange] = []
        for chain in membership.chains where Set(chain.nodes) == [NodeID(1), NodeID(2)] {
            if let last = lost.last, last.upperBound == chain.range.lowerBound {
                lost[lost.count - 1].upperBound = chain.range.upperBound
            } else {
                lost.append(chain.range)
            }
        }
        #expect(!lost.isEmpty)
        let ranges = lost.map(\.description).joined(separator: ", ")
        // The manager names the dead in the order their heartbeats stopped.
        #expect(
            run.errors.contains("key ranges \(ranges) lost every copy: server-0, server-1 died and replication is 1")
                || run.errors.contains("key ranges \(ranges) lost every copy: server-1, server-0 died and replication is 1"),
            "\(run.errors.suffix(2000))")
        #expect(failedAfter <= Self.deadlines.heartbeatTimeout + Self.deadlines.shutdown + .seconds(2) + Self.slack)
        for child in roles.values { #expect(!processExists(child), "process \(child) was left behind") }
    }
}
