import Foundation
import ParameterServer
import Testing

/// Nodes that are missing or die: each run ends within its deadline, with an error naming the node,
/// and leaves no process behind.
@Suite("Failures end within their deadlines", .serialized)
struct FailureDeadlineTests {
    static let shortDeadlines = """
          startup: 8s
          request: 10s
          barrier: 20s
          shutdown: 5s
          heartbeat_interval: 200ms
          heartbeat_timeout: 3s

        """

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

    @Test("a topology with one server missing fails at the startup deadline, naming that server")
    func missingServer() async throws {
        let directory = try ClusterSupport.temporaryDirectory("missing")
        let topology = try ClusterSupport.writeTopology(
            in: directory, servers: 2, workers: 1, keySpace: 1000, tables: [("weights", 1)], deadlines: Self.shortDeadlines,
            application: "kind: pushpull\nkeys: 500")
        let started = ContinuousClock.now
        let (manager, endpoint) = try await NodeProcess.startManager(topology: topology, directory: directory)
        let server = try NodeProcess.start("server", rank: 0, topology: topology, manager: endpoint, directory: directory)
        let worker = try NodeProcess.start("worker", rank: 0, topology: topology, manager: endpoint, directory: directory)
        let all = [manager, server, worker]
        defer { for process in all { process.kill() } }

        let status = try await manager.waitForExit(within: .seconds(30))
        #expect(status != nil && status != 0, "the manager should fail when a server never registers")
        #expect(manager.errors.contains("server-1 did not register within 8 s"), "manager said: \(manager.errors.suffix(1500))")
        #expect(manager.output.contains("@zps failure server-1 did not register within 8 s"))
        // The nodes that did come are told to stop and exit.
        for process in [server, worker] {
            #expect(try await process.waitForExit(within: .seconds(10)) != nil, "\(process.name) is still running")
        }
        #expect(ContinuousClock.now - started < .seconds(30))
        #expect(all.allSatisfy { !processExists($0.pid) })
    }

    @Test("zps run with a worker killed mid-run stops everything and names the worker")
    func killedWorkerUnderSupervisor() async throws {
        let (run, children) = try await Self.startLongSupervisedRun("killed")
        defer { run.kill() }
        let victim = try #require(children.first { commandLine(of: $0).contains("worker") && commandLine(of: $0).last(where: { Int($0) != nil }) == "1" && commandLine(of: $0).contains("--rank") })
        #expect(commandLine(of: victim).contains("1"))
        kill(victim, SIGKILL)

        let status = try await run.waitForExit(within: .seconds(20))
        #expect(status != nil && status != 0)
        #expect(run.errors.contains("worker-1 (pid \(victim)) was killed by signal 9 (SIGKILL)"), "zps run said: \(run.errors.suffix(2000))")
        for child in children { #expect(!processExists(child), "process \(child) (\(commandLine(of: child))) was left behind") }
    }

    @Test("Ctrl-C (SIGINT) to zps run stops every process within the shutdown deadline")
    func interruptStopsEverything() async throws {
        let (run, children) = try await Self.startLongSupervisedRun("interrupt")
        defer { run.kill() }
        kill(run.pid, SIGINT)
        let status = try await run.waitForExit(within: .seconds(20))
        #expect(status != nil && status != 0)
        #expect(run.errors.contains("interrupted: stopping every process"), "zps run said: \(run.errors.suffix(1500))")
        for child in children { #expect(!processExists(child), "process \(child) was left behind") }
    }

    @Test("without a supervisor, the manager notices a dead worker by its missing heartbeats")
    func killedWorkerDetectedByHeartbeats() async throws {
        let directory = try ClusterSupport.temporaryDirectory("heartbeat")
        let topology = try ClusterSupport.writeTopology(
            in: directory, servers: 1, workers: 2, keySpace: 1 << 20, tables: [("weights", 1)], deadlines: Self.shortDeadlines,
            application: "kind: pushpull\nkeys: 100000\nrounds: 1000\nbatch: 10000")
        let (manager, endpoint) = try await NodeProcess.startManager(topology: topology, directory: directory)
        let server = try NodeProcess.start("server", rank: 0, topology: topology, manager: endpoint, directory: directory)
        let workers = try (0..<2).map { try NodeProcess.start("worker", rank: $0, topology: topology, manager: endpoint, directory: directory) }
        let all = [manager, server] + workers
        defer { for process in all { process.kill() } }
        _ = try await workers[1].waitForLine(startingWith: "@zps progress 1", within: .seconds(30))
        workers[1].kill()
        let killedAt = ContinuousClock.now

        let status = try await manager.waitForExit(within: .seconds(20))
        #expect(status != nil && status != 0)
        #expect(manager.errors.contains("worker-1 (node 3"), "manager said: \(manager.errors.suffix(1500))")
        #expect(manager.errors.contains("stopped sending heartbeats"))
        #expect(ContinuousClock.now - killedAt < .seconds(15))
        for process in [server, workers[0]] {
            #expect(try await process.waitForExit(within: .seconds(15)) != nil, "\(process.name) is still running")
        }
    }
}
