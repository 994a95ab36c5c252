import Foundation
import ParameterServer
import Synchronization
import Testing

extension ConsistencyIntegrationTests {
    /// The worker's engine, not the application, holds a table's tasks to its consistency model, and
    /// the servers see exactly what it lets out.
    ///
    /// The slow-worker workload waits for its own pulls, so it keeps staleness within τ whatever the
    /// engine does; here nothing waits but the engine. One in-process worker, two server processes:
    /// server 0 is stopped (SIGSTOP), the worker pushes once to server 0 (the task cannot finish) and
    /// then queues more pushes of 1 to a key of server 1 without waiting for any. The engine may start
    /// a table's task at position `p` only once every task before `p − τ` finished, so under bounded
    /// delay τ exactly τ of the queued pushes start (τ + 1 tasks in flight) and reach server 1, under
    /// sequential none, under eventual all. Server 1's value of the key counts them, and the vector
    /// clock it returns with a pull names the newest one it applied. Then server 0 resumes and every
    /// held task runs.
    @Suite("The engine's bound, seen by the servers")
    struct ConsistencyBoundTests {
        static let keySpace = 100
        /// Pushes queued behind the stalled one: more than the largest τ + 1 below.
        static let queued = 6

        /// A table per model, and how many of the queued pushes the engine starts while the first
        /// task is stalled (`nil`: every one).
        static let tables: [(name: String, yaml: String, started: Int?)] = [
            ("sequential", "consistency: sequential", 0),
            ("bounded0", "consistency: bounded_delay, max_delay: 0", 0),
            ("bounded1", "consistency: bounded_delay, max_delay: 1", 1),
            ("bounded3", "consistency: bounded_delay, max_delay: 3", 3),
            ("eventual", "consistency: eventual", nil),
        ]

        /// What server 1 had applied of a table's queued pushes: the key's value and the worker's
        /// entry in the clock returned with the pull.
        struct Applied: Equatable, Sendable, CustomStringConvertible {
            var value: Float
            var clock: Int64
            var description: String { "value \(value), clock t\(clock)" }
        }

        struct Observation: Sendable {
            var whileStalled: Applied
            var expectedWhileStalled: Applied
            var afterResume: Applied
            var expectedAfterResume: Applied
            var stalledKeyAfterResume: Float
        }

        static func writeTopology(in directory: URL) throws -> String {
            var yaml = """
                name: consistency-bound
                manager: { host: 127.0.0.1, port: 0 }
                servers: { count: 2, host: 127.0.0.1, port: 0 }
                workers: { count: 1, host: 127.0.0.1, port: 0 }
                key_space: \(keySpace)
                tables:

                """
            for (index, table) in tables.enumerated() {
                yaml += "  - { name: \(table.name), id: \(index), value_length: 1, updater: add, \(table.yaml) }\n"
            }
            // Server 0 is stopped for a few seconds per table: no heartbeat or request deadline may end the job.
            yaml += "deadlines:\n  startup: 60s\n  request: 60s\n  heartbeat_timeout: 120s\napplication:\n  kind: pushpull\n"
            let path = directory.appendingPathComponent("topology.yaml").path
            try yaml.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        /// Whether every thread of process `pid` is stopped (state `T` in its `stat`).
        static func isStopped(_ pid: Int32) -> Bool {
            let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
            return !threads.isEmpty && threads.allSatisfy { thread in
                let stat = (try? String(contentsOfFile: "/proc/\(pid)/task/\(thread)/stat", encoding: .utf8)) ?? ""
                guard let nameEnd = stat.lastIndex(of: ")") else { return false }
                return stat[stat.index(after: nameEnd)...].split(separator: " ").first == "T"
            }
        }

        @Test("with one task stalled on a stopped server, the engine starts exactly τ of the tasks queued behind it")
        func stalledTaskHoldsTheTable() async throws {
            let directory = try ClusterSupport.temporaryDirectory("bound")
            let topology = try Self.writeTopology(in: directory)
            let (manager, endpoint) = try await NodeProcess.startManager(topology: topology, directory: directory)
            let servers = try (0..<2).map { try NodeProcess.start("server", rank: $0, topology: topology, manager: endpoint, directory: directory) }
            let stalledPid = servers[0].pid
            defer {
                kill(stalledPid, SIGCONT)
                for process in [manager] + servers { process.kill() }
            }

            let settings = try ClusterSupport.workerSettings(topology: topology, rank: 0, manager: endpoint)
            let observations = Mutex<[String: Observation]>([:])
            let finishedStalled = Mutex<Set<String>>([])
            let node = WorkerNode(settings: settings, logger: ClusterSupport.logger) { worker in
                let nodes = try await worker.waitUntilRegistered()
                let me = try #require(nodes.nodes(withRole: .worker).first { $0.rank == 0 }?.id)
                let serverNodes = nodes.nodes(withRole: .server).sorted { $0.rank < $1.rank }
                let stalledKey = try #require(serverNodes.first?.ranges.first?.lowerBound)
                let observedKey = try #require(serverNodes.last?.ranges.first?.lowerBound)
                #expect(serverNodes.count == 2 && stalledKey != observedKey)

                /// Reads the key of server 1 at once (eventual: the read is not held behind the queue).
                func applied(_ table: UInt32) async throws -> Applied {
                    let read = try await worker.submitPull(table: table, keys: [observedKey], consistency: .eventual, wantClock: true).values()
                    let clock = try #require(read.clock, "server 1 returned no clock")
                    return Applied(value: read.values[0], clock: clock[Int(me.rawValue)])
                }

                for (index, table) in Self.tables.enumerated() {
                    let id = UInt32(index)
                    kill(stalledPid, SIGSTOP)
                    // The signal is delivered asynchronously: a push sent before every thread of the
                    // server stopped could still be answered.
                    let stopDeadline = ContinuousClock.now + .seconds(10)
                    while !Self.isStopped(stalledPid), ContinuousClock.now < stopDeadline {
                        try await Task.sleep(for: .milliseconds(5))
                    }
                    #expect(Self.isStopped(stalledPid), "server 0 did not stop")
                    let stalled = try await worker.push(table: id, keys: [stalledKey], values: [1])
                    try worker.whenFinished(stalled) { _ in finishedStalled.withLock { _ = $0.insert(table.name) } }
                    var timestamps: [Timestamp] = []
                    for _ in 0..<Self.queued {
                        timestamps.append(try await worker.push(table: id, keys: [observedKey], values: [1]))
                    }
                    let started = table.started ?? Self.queued
                    let expected = Applied(value: Float(started), clock: started == 0 ? 0 : timestamps[started - 1].rawValue)
                    // Wait for the pushes the engine must start, then long enough for any it must not
                    // start to arrive as well (a push to a running server on loopback takes well under 1 ms).
                    var seen = try await applied(id)
                    let deadline = ContinuousClock.now + .seconds(20)
                    while seen.value < expected.value, ContinuousClock.now < deadline {
                        try await Task.sleep(for: .milliseconds(20))
                        seen = try await applied(id)
                    }
                    try await Task.sleep(for: .milliseconds(500))
                    seen = try await applied(id)
                    let finishedEarly = finishedStalled.withLock { $0.contains(table.name) }
                    #expect(!finishedEarly, "\(table.name): the push to the stopped server finished")

                    kill(stalledPid, SIGCONT)
                    try await worker.wait(timestamps.last!)
                    let after = try await applied(id)
                    let stalledValue = try await worker.pull(table: id, keys: [stalledKey], consistency: .eventual)[0]
                    observations.withLock {
                        $0[table.name] = Observation(
                            whileStalled: seen, expectedWhileStalled: expected, afterResume: after,
                            expectedAfterResume: Applied(value: Float(Self.queued), clock: timestamps.last!.rawValue),
                            stalledKeyAfterResume: stalledValue)
                    }
                }
                return "checked \(Self.tables.count) models"
            }
            try await node.run()

            let seen = observations.withLock { $0 }
            #expect(seen.count == Self.tables.count)
            for table in Self.tables {
                let observation = try #require(seen[table.name], "\(table.name) was not observed")
                #expect(
                    observation.whileStalled == observation.expectedWhileStalled,
                    "\(table.name): server 1 applied \(observation.whileStalled) while the first task was stalled, expected \(observation.expectedWhileStalled)")
                #expect(
                    observation.afterResume == observation.expectedAfterResume,
                    "\(table.name): after the stalled server resumed, server 1 applied \(observation.afterResume)")
                #expect(observation.stalledKeyAfterResume == 1, "\(table.name): the stalled push was applied \(observation.stalledKeyAfterResume) times")
            }
            #expect(try await manager.waitForExit(within: .seconds(30)) == 0, "manager: \(manager.errors.suffix(1500))")
            for server in servers {
                #expect(try await server.waitForExit(within: .seconds(30)) == 0, "\(server.name): \(server.errors.suffix(1500))")
            }
        }
    }
}
