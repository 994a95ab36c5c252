import Foundation
import Logging
import ParameterServer
import Synchronization

/// A whole cluster in this process: a manager, servers and workers, each node with its own ZeroMQ
/// context and I/O thread, talking over tcp loopback or ipc exactly as separate processes would.
enum BenchCluster {
    private static let instance = Atomic<Int>(0)

    /// Runs `application` on every worker (by rank) and returns what each returned, in rank order,
    /// once the manager has shut the job down.
    /// With `pinned`, each worker and then each server is kept on a CPU of its own (round robin
    /// over the host's CPUs), as if it had a host to itself; the manager runs anywhere. Every node runs
    /// under `SCHED_BATCH` (`scheduling: batch`), the policy for hosts the nodes have to themselves,
    /// on which the push/pull shapes are compared with the C reference. `busyPoll` is
    /// the servers' and workers' ``NodeSettings/busyPoll`` (`nil`: their default). `replication` is
    /// the manager's ``ManagerSettings/replication``; `serverLog` receives the servers' log lines of
    /// level notice and above (by default they are dropped). `security` is every node's (CurveZMQ or
    /// plaintext).
    static func run<Result: Sendable>(
        servers: Int, workers: Int, tables: [TableSpec], keySpace: KeyRange, transport: BenchTransport,
        limits: WireLimits = WireLimits(), pinned: Bool = false, busyPoll: Duration? = nil, replication: Int = 0,
        security: TransportSecurity = .plaintext(beyondLoopback: true), serverLog: (@Sendable (String) -> Void)? = nil,
        application: @escaping @Sendable (_ rank: Int, _ worker: Worker) async throws -> Result
    ) async throws -> [Result] {
        let logger = Logger(label: "zps-bench") { _ in SwiftLogNoOpLogHandler() }
        let cluster = instance.add(1, ordering: .relaxed).newValue
        let prefix = "zps-bench-\(ProcessInfo.processInfo.processIdentifier)-\(cluster)"
        func endpoint(_ node: String) -> String {
            switch transport {
            case .tcp: "tcp://127.0.0.1:*"
            case .ipc: "ipc://\(NSTemporaryDirectory())\(prefix)-\(node)"
            }
        }
        let deadlines = Deadlines(startup: .seconds(60), request: .seconds(60), barrier: .seconds(300))
        var managerSettings = ManagerSettings(
            bindEndpoint: endpoint("manager"), servers: servers, workers: workers, keySpace: keySpace,
            deadlines: deadlines, limits: limits)
        managerSettings.replication = replication
        managerSettings.batchScheduling = true
        managerSettings.security = security
        let serverLogger = serverLog.map { sink in Logger(label: "zps-bench.server") { _ in LineLogHandler(sink) } } ?? logger
        let results = Shared<[Int: Result]>([:])
        let report = Shared<JobReport?>(nil)
        let (boundStream, bound) = AsyncStream.makeStream(of: String.self)

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { [managerSettings] in
                try await ManagerNode(
                    settings: managerSettings, logger: logger,
                    onBound: { bound.yield($0); bound.finish() },
                    onFinish: { job in report.value.withLock { $0 = job } }
                ).run()
            }
            var iterator = boundStream.makeAsyncIterator()
            guard let managerEndpoint = await iterator.next() else { throw BenchError("the manager did not bind") }
            for rank in 0..<servers {
                var settings = NodeSettings(
                    role: .server, rank: rank, managerEndpoint: managerEndpoint, bindEndpoint: endpoint("server-\(rank)"),
                    tables: tables, deadlines: deadlines, limits: limits,
                    cpu: pinned ? (workers + rank) % ThreadAffinity.onlineCPUs : nil)
                settings.busyPoll = busyPoll
                settings.batchScheduling = true
                settings.security = security
                group.addTask { try await ServerNode(settings: settings, logger: serverLogger).run() }
            }
            for rank in 0..<workers {
                var settings = NodeSettings(
                    role: .worker, rank: rank, managerEndpoint: managerEndpoint, bindEndpoint: endpoint("worker-\(rank)"),
                    tables: tables, deadlines: deadlines, limits: limits, cpu: pinned ? rank % ThreadAffinity.onlineCPUs : nil)
                settings.busyPoll = busyPoll
                settings.batchScheduling = true
                settings.security = security
                group.addTask {
                    try await WorkerNode(settings: settings, logger: logger) { worker in
                        let result = try await application(rank, worker)
                        results.value.withLock { $0[rank] = result }
                        return "done"
                    }.run()
                }
            }
            try await group.waitForAll()
        }
        if let failure = report.value.withLock({ $0?.failure }) { throw BenchError("the bench cluster failed: \(failure)") }
        let collected = results.value.withLock { $0 }
        return try (0..<workers).map { rank in
            guard let result = collected[rank] else { throw BenchError("worker \(rank) returned nothing") }
            return result
        }
    }
}

/// A mutex that closures running on other nodes' tasks can share.
private final class Shared<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ initial: Value) { value = Mutex(initial) }
}
