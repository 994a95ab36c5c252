import Foundation
import ParameterServer
import Testing

/// A fourth `zps server --join` process joins a running `zps run` of 3 servers during the push/pull
/// check (docs/FAULT-TOLERANCE.md, "Joins"): every key still equals the exact sum of its pushes, the
/// job succeeds, and the manager reports the joiner's share of the ring as `JoinPlan` computes it.
@Suite("Joins of real server processes", .serialized)
struct JoinClusterTests {
    static let deadlines = FailoverClusterTests.deadlines
    static let keySpace = 1 << 20
    /// The rank of the joiner: the first past the topology's 3 servers.
    static let joinerRank = 3

    /// A running `zps run` of the push/pull check (3 servers, 2 workers), its topology file, the
    /// manager's endpoint and the pids of its children by role, once the workers push.
    struct Run {
        var run: NodeProcess
        var directory: URL
        var topology: String
        var manager: String
        var roles: [String: Int32]
    }

    static func start(_ name: String, replication: Int, rounds: Int) async throws -> Run {
        let directory = try ClusterSupport.temporaryDirectory(name)
        let topology = try ClusterSupport.writeTopology(
            in: directory, servers: 3, workers: 2, keySpace: keySpace, tables: [("weights", 1), ("embeddings", 2)],
            deadlines: FailoverClusterTests.deadlineLines,
            application: "kind: pushpull\nkeys: 200000\nrounds: \(rounds)\nbatch: 20000\ninflight: 4", replication: replication)
        let run = try NodeProcess("run", arguments: ["run", topology, "--log-level", "info"], directory: directory)
        let children = try await ClusterSupport.waitForChildren(of: run, count: 6, outputContaining: "zps: starting")
        let roles = try await ClusterSupport.roles(of: children)
        #expect(roles.keys.sorted() == ["manager", "server-0", "server-1", "server-2", "worker-0", "worker-1"], "children: \(roles); zps run said: \(run.errors.suffix(3000))")
        return Run(run: run, directory: directory, topology: topology, manager: try managerEndpoint(roles: roles), roles: roles)
    }

    /// The manager's endpoint, which `zps run` hands every server on its command line.
    static func managerEndpoint(roles: [String: Int32]) throws -> String {
        let server = try #require(roles["server-0"])
        let arguments = commandLine(of: server)
        let flag = try #require(arguments.firstIndex(of: "--manager"), "server-0 was started with \(arguments)")
        return try #require(arguments.indices.contains(flag + 1) ? arguments[flag + 1] : nil)
    }

    /// Starts `zps server --join` of rank 3 against the run's manager.
    static func startJoiner(_ run: Run) throws -> NodeProcess {
        try NodeProcess(
            "server-\(joinerRank)",
            arguments: [
                "server", "--topology", run.topology, "--join", "--rank", "\(joinerRank)", "--manager", run.manager,
                "--log-level", "info",
            ],
            directory: run.directory)
    }

    /// What the manager reports of the join, from the pure types: the membership it forms (the
    /// topology's servers, then its workers, in rank order) and the `JoinPlan` of the joiner.
    static func expectedJoin(topology path: String) throws -> (joiner: NodeID, segments: Int, keys: UInt64) {
        let topology = try Topology.load(path: path)
        var membership = Membership(topology: topology)
        for rank in 0..<topology.servers.count { _ = try membership.join(role: .server, rank: UInt32(rank), endpoint: "server-\(rank)") }
        for rank in 0..<topology.workers.count { _ = try membership.join(role: .worker, rank: UInt32(rank), endpoint: "worker-\(rank)") }
        membership.holdsData = true
        let plan = try JoinPlan.make(joiner: UInt32(joinerRank), endpoint: "server-\(joinerRank)", in: membership)
        let keys = plan.membership.ring.ranges(of: plan.joiner).reduce(UInt64(0)) { $0 + $1.count }
        return (plan.joiner, plan.final.filter { $0.primary == plan.joiner }.count, keys)
    }

    @Test("a fourth server joins mid-job: the push/pull check is exact and the manager reports the joiner's share", arguments: [1, 0])
    func fourthServerJoins(replication: Int) async throws {
        let started = try await Self.start("join-k\(replication)", replication: replication, rounds: 60)
        defer { started.run.kill() }
        // The workers push by now; the joiner takes its share while they go on.
        try await Task.sleep(for: .milliseconds(500))
        let joiner = try Self.startJoiner(started)
        defer { joiner.kill() }
        let status = try await started.run.waitForExit(within: .seconds(120))
        let said = started.run.errors + started.run.output
        #expect(status == 0, "replication \(replication): zps run said:\n\(said.suffix(3000))\nthe joiner said:\n\(joiner.errors.suffix(2000))")
        // Each worker's own check compared every key with the exact sum of every push.
        #expect(said.components(separatedBy: "all exact").count - 1 == 2, "\(said.suffix(2000))")
        let expected = try Self.expectedJoin(topology: started.topology)
        let line = "recovered: server-\(Self.joinerRank) (\(expected.joiner)) joined in "
        #expect(started.run.output.contains(line), "no '\(line)' in the summary:\n\(started.run.output.suffix(2000))")
        let share = "primary of \(expected.segments) segment(s), \(expected.keys) keys; node table version "
        let reported = started.run.output.split(separator: "\n").first { $0.contains(line) }.map(String.init) ?? ""
        #expect(reported.contains(share), "expected '\(share)' in '\(reported)'")
        // HashRing.add: a joiner takes ⌊N/(S+1)⌋ keys of the N of the key space.
        #expect(expected.keys == UInt64(Self.keySpace / 4))
        // The manager tells the joiner to stop with everyone else.
        let joinerStatus = try await joiner.waitForExit(within: Self.deadlines.shutdown + .seconds(5))
        #expect(joinerStatus == 0, "the joiner said:\n\(joiner.errors.suffix(2000))")
        for child in started.roles.values { #expect(!processExists(child), "process \(child) was left behind") }
    }

    @Test("a server that left is started again under its rank, as a StatefulSet restarts its pod: it joins, and the push/pull check is exact")
    func restartedServerJoins() async throws {
        let started = try await Self.start("rejoin", replication: 1, rounds: 100)
        defer { started.run.kill() }
        try await Task.sleep(for: .milliseconds(300))
        let pid = try #require(started.roles["server-1"])
        kill(pid, SIGTERM)
        let left = "server-1 (pid \(pid)) was asked to stop and left the job"
        let deadline = ContinuousClock.now + .seconds(20)
        while !started.run.errors.contains(left), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(started.run.errors.contains(left), "\(started.run.errors.suffix(2000))")
        // The same command line as before, without --join: the manager took rank 1 out, so it joins.
        let restarted = try NodeProcess(
            "server-1-again",
            arguments: ["server", "--topology", started.topology, "--rank", "1", "--manager", started.manager, "--log-level", "info"],
            directory: started.directory)
        defer { restarted.kill() }
        let status = try await started.run.waitForExit(within: .seconds(120))
        let said = started.run.errors + started.run.output
        #expect(status == 0, "zps run said:\n\(said.suffix(3000))\nthe restarted server said:\n\(restarted.errors.suffix(2000))")
        #expect(said.components(separatedBy: "all exact").count - 1 == 2, "\(said.suffix(2000))")
        let joined = started.run.output.split(separator: "\n").first { $0.contains("recovered: server-1 (") && $0.contains(") joined in ") }
        #expect(joined != nil, "no join of server-1 in the summary:\n\(started.run.output.suffix(2000))")
        let restartedStatus = try await restarted.waitForExit(within: Self.deadlines.shutdown + .seconds(5))
        #expect(restartedStatus == 0, "the restarted server said:\n\(restarted.errors.suffix(2000))")
        for child in started.roles.values { #expect(!processExists(child), "process \(child) was left behind") }
    }

    /// Stops `joiner` as soon as the manager's admission of it reaches `zps run`'s output, then
    /// kills it (kill -9). Stopped there, the joiner acknowledges nothing more; its catch-up may have
    /// ended by then (the relayed log lags), but the switch waits for the drain, so the kill falls
    /// before the join completes.
    static func killDuringJoin(_ joiner: NodeProcess, of started: Run) async throws {
        let admitted = "server-\(joinerRank) joins as "
        let deadline = ContinuousClock.now + .seconds(30)
        while !started.run.errors.contains(admitted), ContinuousClock.now < deadline, joiner.process.isRunning {
            try await Task.sleep(for: .milliseconds(2))
        }
        kill(joiner.pid, SIGSTOP)
        let errorsAtStop = started.run.errors
        #expect(errorsAtStop.contains(admitted), "the manager did not admit the joiner:\n\(errorsAtStop.suffix(2000))\nthe joiner said:\n\(joiner.errors.suffix(2000))")
        try await Task.sleep(for: .milliseconds(200))
        kill(joiner.pid, SIGKILL)
    }

    static let dropped = "server-\(joinerRank) died while joining; the join is dropped"

    @Test("a joiner killed (kill -9) during its join: the join is dropped and the push/pull check is exact")
    func joinerKilledDuringJoin() async throws {
        let started = try await Self.start("join-killed", replication: 1, rounds: 40)
        defer { started.run.kill() }
        try await Task.sleep(for: .milliseconds(500))
        let joiner = try Self.startJoiner(started)
        defer { joiner.kill() }
        try await Self.killDuringJoin(joiner, of: started)
        let status = try await started.run.waitForExit(within: .seconds(120))
        let said = started.run.errors + started.run.output
        #expect(status == 0, "zps run said:\n\(said.suffix(3000))")
        #expect(said.contains(Self.dropped), "\(said.suffix(2000))")
        #expect(!started.run.output.contains("joined in "), "\(started.run.output.suffix(2000))")
        #expect(said.components(separatedBy: "all exact").count - 1 == 2, "\(said.suffix(2000))")
        for child in started.roles.values { #expect(!processExists(child), "process \(child) was left behind") }
    }

    @Test("after a joiner killed during its join, a new server of the same rank joins: its join completes and the push/pull check is exact")
    func joinAgainAfterAbandonedJoin() async throws {
        let started = try await Self.start("join-again", replication: 1, rounds: 60)
        defer { started.run.kill() }
        try await Task.sleep(for: .milliseconds(500))
        let first = try Self.startJoiner(started)
        defer { first.kill() }
        try await Self.killDuringJoin(first, of: started)
        // The manager drops the join once the joiner's heartbeats stop; the next one starts then.
        let deadline = ContinuousClock.now + Self.deadlines.heartbeatTimeout + .seconds(20)
        while !started.run.errors.contains(Self.dropped), ContinuousClock.now < deadline, started.run.process.isRunning {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(started.run.errors.contains(Self.dropped), "\(started.run.errors.suffix(2000))")
        #expect(started.run.process.isRunning, "the job ended before the second join: give it more rounds")
        let second = try Self.startJoiner(started)
        defer { second.kill() }
        let status = try await started.run.waitForExit(within: .seconds(180))
        let said = started.run.errors + started.run.output
        #expect(status == 0, "zps run said:\n\(said.suffix(3000))\nthe second joiner said:\n\(second.errors.suffix(2000))")
        #expect(said.components(separatedBy: "all exact").count - 1 == 2, "\(said.suffix(2000))")
        // The second joiner heads the share a joiner takes of the ring: HashRing.add gives it
        // ⌊N/(S+1)⌋ keys of the N of the key space, whatever its node id.
        let joined = started.run.output.split(separator: "\n").filter { $0.contains("server-\(Self.joinerRank) (") && $0.contains(" joined in ") }
        #expect(joined.count == 1, "\(started.run.output.suffix(2000))")
        #expect(joined.first?.contains(", \(Self.keySpace / 4) keys; node table version ") == true, "\(joined)")
        let secondStatus = try await second.waitForExit(within: Self.deadlines.shutdown + .seconds(5))
        #expect(secondStatus == 0, "the second joiner said:\n\(second.errors.suffix(2000))")
        for child in started.roles.values { #expect(!processExists(child), "process \(child) was left behind") }
    }
}
