import Foundation
import Logging
import ParameterServer

/// The fail-over scenarios' cluster (`FailoverRun`, `JoinRun`): a manager in the bench's process
/// and `zps server` processes that can die abruptly, with `replication: 1`.
enum ProcessCluster {
    /// A fresh folder for one run's topology and server logs, named after `run`, the store size and
    /// the seed, and the topology written there (`FailoverRun.writeTopology`), loaded.
    static func prepare(
        run: String, keysPerServer: Int, seed: UInt64, settings: FailoverSettings, workers: Int
    ) throws -> (directory: URL, topologyPath: String, topology: Topology) {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory())
            .appendingPathComponent("zps-bench-\(run)-\(ProcessInfo.processInfo.processIdentifier)-\(keysPerServer)-\(seed)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let keySpace = UInt64(FailoverRun.servers * keysPerServer)
        let topologyPath = try FailoverRun.writeTopology(in: directory, keySpace: keySpace, settings: settings, workers: workers)
        return (directory, topologyPath, try Topology.load(path: topologyPath))
    }

    /// Adds the manager's task to `group` (a failure to run goes to `fail`, the job's failure when it
    /// ends to `jobFailed`), waits for its endpoint, and starts the topology's servers pointed at
    /// it, each appended to `servers` as it starts so that the caller's clean-up kills every one
    /// that did. Returns the manager's endpoint.
    static func start(
        manager settings: ManagerSettings, logger: Logger, group: inout ThrowingTaskGroup<Void, any Error>,
        fail: @escaping @Sendable (String) -> Void, jobFailed: @escaping @Sendable (String?) -> Void,
        executable: String, topology: String, directory: URL, servers: inout [ServerProcess]
    ) async throws -> String {
        let (boundStream, bound) = AsyncStream.makeStream(of: String.self)
        group.addTask {
            do {
                try await ManagerNode(
                    settings: settings, logger: logger, onBound: { bound.yield($0); bound.finish() },
                    onFinish: { job in jobFailed(job.failure) }
                ).run()
            } catch {
                fail("the manager: \(error)")
            }
        }
        var iterator = boundStream.makeAsyncIterator()
        guard let endpoint = await iterator.next() else { throw BenchError("the manager did not bind") }
        for rank in 0..<settings.servers {
            servers.append(try ServerProcess(
                executable: executable, topology: topology, rank: rank, manager: endpoint, directory: directory))
        }
        return endpoint
    }

    /// Writes 1 to every key of the table below `keySpace`, 100K keys per push, 8 pushes in flight.
    static func fill(_ worker: Worker, keySpace: UInt64) async throws {
        var window: [Timestamp] = []
        var lower: UInt64 = 0
        while lower < keySpace {
            let upper = min(keySpace, lower + UInt64(FailoverRun.fillChunk))
            window.append(try await worker.push(
                table: FailoverRun.tableID, keys: Array(lower..<upper), values: [Float](repeating: 1, count: Int(upper - lower))))
            if window.count >= 8 { try await worker.wait(window.removeFirst()) }
            lower = upper
        }
        try await worker.waitForAll()
    }

    /// Polls `done` every 5 ms until it holds, for at most 300 s: the set-up of a cluster under load.
    static func waitForSetUp(until done: () -> Bool) async throws {
        let setUpBy = ContinuousClock.now + .seconds(300)
        while ContinuousClock.now < setUpBy, !done() {
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// After the job: every server of `servers` that still runs must exit by itself within 10 s
    /// (it is killed otherwise, which `fail` reports); the job's failure is reported too.
    static func finish(servers: [ServerProcess], jobFailure: String?, fail: (String) -> Void) async {
        for server in servers {
            if await !server.waitForExit(within: .seconds(10)) {
                fail("server-\(server.rank) did not exit after the job; killed")
            }
        }
        if let jobFailure { fail("the job failed: \(jobFailure)") }
    }
}
