import Logging
import Synchronization
import Testing
import ZeroMQ

@testable import ParameterServer

/// The manager, server and worker logic on the in-memory network with fake time: the push/pull
/// scenario of the multi-process tests, under shuffled deliveries, and deadlines that pass in
/// microseconds.
@Suite("Roles on the in-memory network")
struct InMemoryClusterTests {
    static let table = TableSpec(name: "weights", id: 0, valueLength: 2)
    static let keySpace = KeyRange(0, 1000)
    static let deadlines = Deadlines(
        startup: .seconds(10), request: .seconds(10), barrier: .seconds(10), shutdown: .seconds(5),
        heartbeatInterval: .milliseconds(500), heartbeatTimeout: .seconds(3), job: .seconds(600))

    static var logger: Logger {
        var logger = Logger(label: "zps.test.memory")
        logger.logLevel = .critical
        return logger
    }

    /// The manager's reports, written by its finish callback.
    final class Reports: Sendable {
        private let reports = Mutex<[JobReport]>([])
        func append(_ report: JobReport) { reports.withLock { $0.append(report) } }
        func withLock<R>(_ body: ([JobReport]) -> R) -> R { reports.withLock { body($0) } }
    }

    struct Cluster {
        let network: InMemoryNetwork
        let reports: Reports
        let workers: [String]
    }

    /// A manager, `servers` servers and the workers of `workerRanks` (of `workers` expected).
    static func makeCluster(seed: UInt64, servers: Int, startServers: Int? = nil, workers: Int) -> Cluster {
        let network = InMemoryNetwork(seed: seed)
        let reports = Reports()
        let manager = ManagerCore(
            settings: ManagerSettings(
                bindEndpoint: "mem://manager", servers: servers, workers: workers, keySpace: keySpace, deadlines: deadlines),
            logger: logger
        ) { report in reports.append(report) }
        network.add(manager, endpoint: "mem://manager")
        func settings(_ role: NodeRole, _ rank: Int) -> NodeSettings {
            NodeSettings(
                role: role, rank: rank, managerEndpoint: "mem://manager", bindEndpoint: "mem://\(role)-\(rank)",
                tables: [table], deadlines: deadlines)
        }
        for rank in 0..<(startServers ?? servers) {
            network.add(ServerCore(settings: settings(.server, rank), outcome: NodeOutcome(), logger: logger), endpoint: "mem://server-\(rank)")
        }
        var names: [String] = []
        for rank in 0..<workers {
            network.add(WorkerCore(settings: settings(.worker, rank), outcome: NodeOutcome(), logger: logger), endpoint: "mem://worker-\(rank)")
            names.append("mem://worker-\(rank)")
        }
        return Cluster(network: network, reports: reports, workers: names)
    }

    static func value(_ worker: Int, _ key: Int, _ component: Int) -> Float { Float(worker * 10 + key % 17 + component) }

    @Test("pushes from two workers sum exactly on two servers, for every interleaving", arguments: [1, 2, 3, 4, 5] as [UInt64])
    func pushPullSums(seed: UInt64) throws {
        let cluster = Self.makeCluster(seed: seed, servers: 2, workers: 2)
        cluster.network.deliverAll(shuffled: true)
        let keys = (0..<1000).filter { $0 % 3 != 0 }.map(UInt64.init)
        for (rank, endpoint) in cluster.workers.enumerated() {
            let values = keys.flatMap { key in (0..<2).map { Self.value(rank, Int(key), $0) } }
            cluster.network.execute(on: endpoint, as: WorkerCore.self) { core in
                for round in 1...3 {
                    core.submit(
                        WorkerCore.Request(kind: .push, table: Self.table, keys: keys, values: values, updater: nil,
                                           iteration: nil, wantClock: false, pull: nil),
                        timestamp: Timestamp(Int64(round)), after: [], consistency: nil)
                }
            }
        }
        cluster.network.deliverAll(shuffled: true)
        let pull = PendingPull(timestamp: Timestamp(4))
        cluster.network.execute(on: cluster.workers[0], as: WorkerCore.self) { core in
            core.submit(
                WorkerCore.Request(kind: .pull, table: Self.table, keys: keys, values: nil, updater: nil,
                                   iteration: nil, wantClock: false, pull: pull),
                timestamp: Timestamp(4), after: [], consistency: .sequential)
        }
        cluster.network.deliverAll(shuffled: true)
        let pulled = try #require(pull.result).get().values
        let expected = keys.flatMap { key in (0..<2).map { j in (0..<2).reduce(Float(0)) { $0 + 3 * Self.value($1, Int(key), j) } } }
        #expect(pulled == expected)
    }

    @Test("a server that never registers fails the job at the startup deadline, by name")
    func missingServer() {
        let cluster = Self.makeCluster(seed: 1, servers: 2, startServers: 1, workers: 1)
        cluster.network.advance(by: .seconds(9))
        #expect(cluster.reports.withLock { $0 }.isEmpty)
        cluster.network.advance(by: .seconds(2))
        let report = cluster.reports.withLock { $0.first }
        #expect(report?.failure == "server-1 did not register within 10 s (registered: server-0, worker-0)")
        #expect(report?.unacknowledged == [], "the nodes that came acknowledged the shutdown")
        // The nodes that came were told to stop, and did.
        #expect(!cluster.network.isRunning("mem://server-0"))
        #expect(!cluster.network.isRunning("mem://worker-0"))
        #expect(!cluster.network.isRunning("mem://manager"))
    }

    @Test("nodes that registered longer than the heartbeat timeout before the last one are not declared dead when the job starts")
    func earlyRegistrantsAreNotDead() {
        let cluster = Self.makeCluster(seed: 1, servers: 2, startServers: 1, workers: 1)
        // Server-0 and the worker registered; they send no heartbeats until the job starts.
        cluster.network.advance(by: .seconds(5))
        cluster.network.add(
            ServerCore(
                settings: NodeSettings(
                    role: .server, rank: 1, managerEndpoint: "mem://manager", bindEndpoint: "mem://server-1",
                    tables: [Self.table], deadlines: Self.deadlines),
                outcome: NodeOutcome(), logger: Self.logger),
            endpoint: "mem://server-1")
        cluster.network.deliverAll()
        cluster.network.advance(by: .seconds(2))
        #expect(cluster.reports.withLock { $0 }.isEmpty, "\(cluster.reports.withLock { $0 })")
        #expect(cluster.network.isRunning("mem://server-0"))
    }

    @Test("a worker that dies is named after the heartbeat timeout, and the others are stopped")
    func deadWorker() {
        let cluster = Self.makeCluster(seed: 1, servers: 1, workers: 2)
        cluster.network.advance(by: .seconds(2))
        #expect(cluster.reports.withLock { $0 }.isEmpty)
        cluster.network.kill("mem://worker-1")
        cluster.network.advance(by: .seconds(2))
        #expect(cluster.reports.withLock { $0 }.isEmpty, "the timeout is 3 s")
        cluster.network.advance(by: .seconds(2))
        // Detected: everyone still alive was told to stop.
        #expect(!cluster.network.isRunning("mem://server-0"))
        #expect(!cluster.network.isRunning("mem://worker-0"))
        // The report comes once the shutdown deadline for the dead worker's acknowledgement passed.
        cluster.network.advance(by: .seconds(6))
        let report = cluster.reports.withLock { $0.first }
        #expect(report?.failure?.hasPrefix("worker-1 (node 3, mem://worker-1) stopped sending heartbeats") == true, "\(String(describing: report))")
        #expect(report?.unacknowledged == ["worker-1"])
    }
}
