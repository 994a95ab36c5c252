import Foundation
import ParameterServer
import Testing

/// Nodes that are missing or die: each run ends when its deadline says (not before, and not much
/// after), with an error naming the node, and leaves no process behind.
@Suite("Failures end within their deadlines", .serialized)
struct FailureDeadlineTests {
    static let deadlines = Deadlines(
        startup: .seconds(8), request: .seconds(10), barrier: .seconds(20), shutdown: .seconds(5),
        heartbeatInterval: .milliseconds(200), heartbeatTimeout: .seconds(3))
    static let shortDeadlines = """
          startup: 8s
          request: 10s
          barrier: 20s
          shutdown: 5s
          heartbeat_interval: 200ms
          heartbeat_timeout: 3s

        """
    /// How much later than its deadline a failure may be seen here: the manager checks deadlines
    /// every tick (20 ms), and on a loaded two-core machine a process start, a tick or this test's
    /// polling can each be late by a few hundred milliseconds.
    static let slack: Duration = .seconds(2)
    /// How often the tests look at a process's output or state.
    static let pollInterval: Duration = .milliseconds(20)
    /// The exit status of a `zps` command that fails (ArgumentParser's `ExitCode.failure`).
    static let failureStatus: Int32 = 1

    /// `zps run` of a push/pull job far too long to finish, once all five processes run and the
    /// workers are pushing.
    static func startLongSupervisedRun(_ name: String) async throws -> (NodeProcess, [Int32]) {
        let directory = try ClusterSupport.temporaryDirectory(name)
        let topology = try ClusterSupport.writeTopology(
            in: directory, servers: 2, workers: 2, keySpace: 1 << 20, tables: [("weights", 1)], deadlines: Self.shortDeadlines,
            application: "kind: pushpull\nkeys: 1000000\nrounds: 1000\nbatch: 10000")
        let run = try NodeProcess("run", arguments: ["run", topology], directory: directory)
        let children = try await ClusterSupport.waitForChildren(of: run, count: 5, outputContaining: "push weights")
        #expect(children.count == 5, "zps run started \(children.count) processes; stderr: \(run.errors.suffix(1500))")
        return (run, children)
    }

    /// A child of `zps run` by what its command line says it is: `manager`, or `server`/`worker` with its `--rank`.
    static func role(of pid: Int32) -> String? {
        let arguments = commandLine(of: pid)
        guard arguments.count > 1 else { return nil }
        let role = arguments[1]
        if role == "manager" { return role }
        guard let flag = arguments.firstIndex(of: "--rank"), flag + 1 < arguments.count else { return nil }
        return "\(role)-\(arguments[flag + 1])"
    }

    /// When `text` first appeared in the standard error of `process`, or `nil` if it did not within `limit`.
    static func whenErrorsContain(_ text: String, _ process: NodeProcess, within limit: Duration) async throws -> ContinuousClock.Instant? {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if process.errors.contains(text) { return .now }
            try await Task.sleep(for: pollInterval)
        }
        return nil
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// When `process` exited, or `nil` if it still runs after `limit`.
    static func whenExited(_ process: NodeProcess, within limit: Duration) async throws -> ContinuousClock.Instant? {
        let deadline = ContinuousClock.now + limit
        while process.process.isRunning, ContinuousClock.now < deadline {
            try await Task.sleep(for: pollInterval)
        }
        return process.process.isRunning ? nil : .now
    }

    @Test("a topology with one server missing fails at the startup deadline, naming that server")
    func missingServer() async throws {
        let directory = try ClusterSupport.temporaryDirectory("missing")
        let topology = try ClusterSupport.writeTopology(
            in: directory, servers: 2, workers: 1, keySpace: 1000, tables: [("weights", 1)], deadlines: Self.shortDeadlines,
            application: "kind: pushpull\nkeys: 500")
        #expect(try Topology.load(path: topology).deadlines == Self.deadlines)
        // The manager's startup deadline runs from its start, which is after this instant.
        let started = ContinuousClock.now
        let (manager, endpoint) = try await NodeProcess.startManager(topology: topology, directory: directory)
        let server = try NodeProcess.start("server", rank: 0, topology: topology, manager: endpoint, directory: directory)
        let worker = try NodeProcess.start("worker", rank: 0, topology: topology, manager: endpoint, directory: directory)
        let all = [manager, server, worker]
        defer { for process in all { process.kill() } }

        let message = "server-1 did not register within 8 s (registered: server-0, worker-0)"
        let failedAt = try #require(
            await Self.whenErrorsContain("job failed: ", manager, within: .seconds(30)),
            "manager said: \(manager.errors.suffix(1500))")
        #expect(manager.errors.contains("job failed: \(message)\n"), "manager said: \(manager.errors.suffix(1500))")
        let failedAfter = failedAt - started
        #expect(failedAfter > Self.deadlines.startup, "the manager gave up after \(failedAfter), before its startup deadline")
        #expect(failedAfter <= Self.deadlines.startup + Self.slack, "the manager gave up only after \(failedAfter)")

        // The nodes that did come are told to stop, acknowledge and exit: nobody waits for a deadline.
        let exited = try #require(await Self.whenExited(manager, within: Self.deadlines.shutdown + Self.slack))
        #expect(exited - failedAt < Self.deadlines.shutdown, "the manager waited \(exited - failedAt) for acknowledgements it had")
        #expect(manager.process.terminationStatus == Self.failureStatus)
        #expect(manager.output.contains("@zps failure \(message)\n"), "manager printed: \(manager.output.suffix(1500))")
        #expect(!manager.errors.contains("no shutdown acknowledgement"), "manager said: \(manager.errors.suffix(1500))")
        // They exit with the status that says the job failed elsewhere, and why.
        for process in [server, worker] {
            #expect(try await process.waitForExit(within: Self.slack) == NodeFailure.jobFailedElsewhereExitStatus, "\(process.name): \(process.errors.suffix(1500))")
            #expect(process.errors.contains("\(process.name): stopped because the job failed: \(message)\n"), "\(process.name): \(process.errors.suffix(1500))")
        }
        #expect(all.allSatisfy { !processExists($0.pid) })
    }

    @Test("zps run with a worker killed mid-run stops everything and names the worker")
    func killedWorkerUnderSupervisor() async throws {
        let (run, children) = try await Self.startLongSupervisedRun("killed")
        defer { run.kill() }
        let roles = try await ClusterSupport.roles(of: children)
        #expect(roles.keys.sorted() == ["manager", "server-0", "server-1", "worker-0", "worker-1"], "children: \(roles)")
        let victim = try #require(roles["worker-1"])
        kill(victim, SIGKILL)
        let killedAt = ContinuousClock.now

        // The supervisor sees the death at once and stops the others. The manager then waits for
        // shutdown acknowledgements from nodes that exited without one: a second after the last
        // of them, the supervisor kills it instead of waiting out the shutdown deadline.
        let exitedAt = try #require(await Self.whenExited(run, within: Self.deadlines.shutdown + .seconds(2) + Self.slack))
        #expect(exitedAt - killedAt < Self.deadlines.shutdown, "zps run ended \(exitedAt - killedAt) after the kill")
        #expect(run.process.terminationStatus == Self.failureStatus)
        #expect(run.errors.contains("error: worker-1 (pid \(victim)) was killed by signal 9 (SIGKILL)"), "zps run said: \(run.errors.suffix(2000))")
        #expect(run.output.contains(": FAILED in ") && run.output.contains("\n   error: worker-1 (pid \(victim)) was killed by signal 9 (SIGKILL)\n"))
        for child in children { #expect(!processExists(child), "process \(child) (\(commandLine(of: child))) was left behind") }
    }

    @Test("zps run with a server stopped (SIGSTOP) names the stopped server first, not the nodes that timed out on it")
    func stoppedServerUnderSupervisor() async throws {
        let (run, children) = try await Self.startLongSupervisedRun("stopped")
        defer { run.kill() }
        let roles = try await ClusterSupport.roles(of: children)
        let victim = try #require(roles["server-0"])
        defer { if processExists(victim) { kill(victim, SIGKILL) } }
        kill(victim, SIGSTOP)

        // The manager misses heartbeats (of the server, or of a worker blocked sending to it), the
        // workers stop; the stopped server is killed at the latest at the shutdown deadline.
        let limit = Self.deadlines.heartbeatTimeout + Self.deadlines.shutdown + .seconds(2) + Self.slack
        _ = try #require(await Self.whenExited(run, within: limit), "zps run said: \(run.errors.suffix(2000))")
        #expect(run.process.terminationStatus == Self.failureStatus)
        let cause = "error: server-0 (pid \(victim)) is stopped (e.g. by SIGSTOP): it answers no requests and sends no heartbeats"
        let lines = run.output.split(separator: "\n").map(String.init)
        let header = try #require(lines.firstIndex { $0.contains(": FAILED in ") }, "zps run printed: \(run.output)")
        #expect(lines.dropFirst(header + 1).first == "   \(cause)", "zps run printed: \(run.output)")
        for child in children { #expect(!processExists(child), "process \(child) (\(commandLine(of: child))) was left behind") }
    }

    @Test("Ctrl-C (SIGINT) to zps run stops every process within the shutdown deadline")
    func interruptStopsEverything() async throws {
        let (run, children) = try await Self.startLongSupervisedRun("interrupt")
        defer { run.kill() }
        kill(run.pid, SIGINT)
        let interruptedAt = ContinuousClock.now
        let exitedAt = try #require(await Self.whenExited(run, within: Self.deadlines.shutdown + .seconds(2) + Self.slack))
        // The children stop when told: none is left to the kill after the shutdown deadline.
        #expect(exitedAt - interruptedAt <= Self.deadlines.shutdown + Self.slack)
        #expect(run.process.terminationStatus == Self.failureStatus)
        #expect(run.errors.contains("error: interrupted: stopping every process"), "zps run said: \(run.errors.suffix(1500))")
        #expect(!run.errors.contains("did not exit within"), "zps run said: \(run.errors.suffix(1500))")
        for child in children { #expect(!processExists(child), "process \(child) was left behind") }
    }

    @Test("without a supervisor, the manager notices a dead worker by its missing heartbeats")
    func killedWorkerDetectedByHeartbeats() async throws {
        let directory = try ClusterSupport.temporaryDirectory("heartbeat")
        let topology = try ClusterSupport.writeTopology(
            in: directory, servers: 1, workers: 2, keySpace: 1 << 20, tables: [("weights", 1)], deadlines: Self.shortDeadlines,
            application: "kind: pushpull\nkeys: 100000\nrounds: 1000\nbatch: 10000")
        #expect(try Topology.load(path: topology).deadlines == Self.deadlines)
        let (manager, endpoint) = try await NodeProcess.startManager(topology: topology, directory: directory)
        let server = try NodeProcess.start("server", rank: 0, topology: topology, manager: endpoint, directory: directory)
        let workers = try (0..<2).map { try NodeProcess.start("worker", rank: $0, topology: topology, manager: endpoint, directory: directory) }
        let all = [manager, server] + workers
        defer { for process in all { process.kill() } }
        _ = try await workers[1].waitForLine(startingWith: "@zps progress 1", within: .seconds(30))
        workers[1].kill()
        let killedAt = ContinuousClock.now

        // Ids: the manager 0, servers from 1, then workers: worker-1 is node 3.
        let failedAt = try #require(
            await Self.whenErrorsContain("job failed: ", manager, within: Self.deadlines.heartbeatTimeout + Self.slack),
            "manager said: \(manager.errors.suffix(1500))")
        // The last heartbeat came at most one interval before the kill, and the manager declares
        // the worker dead once it has been silent for longer than the timeout.
        let failedAfter = failedAt - killedAt
        #expect(failedAfter >= Self.deadlines.heartbeatTimeout - Self.deadlines.heartbeatInterval, "declared dead \(failedAfter) after the kill")
        #expect(failedAfter <= Self.deadlines.heartbeatTimeout + Self.slack, "declared dead only \(failedAfter) after the kill")
        let pattern = #/job failed: worker-1 \(node 3, tcp://127\.0\.0\.1:[0-9]+\) stopped sending heartbeats: last heard ([0-9.]+) s ago/#
        let match = try #require(manager.errors.firstMatch(of: pattern), "manager said: \(manager.errors.suffix(1500))")
        let silence = try #require(Double(match.1))
        // The manager's own measure: more than the timeout (printed to a tenth of a second), later
        // by a tick and whatever delays its I/O thread.
        let timeout = Self.seconds(Self.deadlines.heartbeatTimeout)
        #expect(silence >= timeout && silence <= timeout + Self.seconds(Self.slack), "last heard \(silence) s ago")

        // The dead worker's connection is gone, so its shutdown cannot be sent: the manager does
        // not wait the shutdown deadline for an acknowledgement that cannot come, only for the
        // others'. Measured from the kill, an instant taken before what it bounds.
        let exitedAt = try #require(await Self.whenExited(manager, within: Self.deadlines.shutdown + Self.slack))
        let exitedAfter = exitedAt - killedAt
        #expect(exitedAfter <= Self.deadlines.heartbeatTimeout + Self.slack, "the manager exited \(exitedAfter) after the kill")
        #expect(manager.process.terminationStatus == Self.failureStatus)
        #expect(manager.errors.contains("could not send shutdown to "), "manager said: \(manager.errors.suffix(1500))")
        #expect(!manager.errors.contains("no shutdown acknowledgement"), "manager said: \(manager.errors.suffix(1500))")
        for process in [server, workers[0]] {
            #expect(try await process.waitForExit(within: Self.slack) == NodeFailure.jobFailedElsewhereExitStatus, "\(process.name): \(process.errors.suffix(1500))")
            #expect(process.errors.contains("\(process.name): stopped because the job failed: worker-1 (node 3, "), "\(process.name): \(process.errors.suffix(1500))")
        }
    }

    @Test("a manager host name that does not resolve is named as such, at once and at the registration deadline")
    func unresolvableManager() async throws {
        let directory = try ClusterSupport.temporaryDirectory("unresolvable")
        let topology = try ClusterSupport.writeTopology(
            in: directory, servers: 1, workers: 1, keySpace: 1000, tables: [("weights", 1)],
            deadlines: "  startup: 2s\n  shutdown: 1s\n", application: "kind: pushpull\nkeys: 500")
        let manager = "tcp://zps-no-such-manager.invalid:7000"
        let started = ContinuousClock.now
        let worker = try NodeProcess.start("worker", rank: 0, topology: topology, manager: manager, directory: directory)
        defer { worker.kill() }
        let named = "the manager's host name 'zps-no-such-manager.invalid' (\(manager)) does not resolve: "
        let warnedAt = try #require(await Self.whenErrorsContain(named, worker, within: Self.slack), "worker said: \(worker.errors)")
        #expect(warnedAt - started < Self.slack)
        let exitedAt = try #require(await Self.whenExited(worker, within: .seconds(3) + Self.slack), "worker said: \(worker.errors)")
        #expect(exitedAt - started >= .seconds(3), "gave up after \(exitedAt - started), before the registration deadline")
        #expect(worker.process.terminationStatus == Self.failureStatus)
        #expect(worker.errors.contains("worker-0: \(named)"), "worker said: \(worker.errors)")
        #expect(worker.errors.contains("; tried for 3s\n"), "worker said: \(worker.errors)")
    }
}
