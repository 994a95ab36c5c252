import Logging
import Synchronization
import Testing
import ZeroMQ

@testable import ParameterServer

/// The manager, server and worker logic with replication on the in-memory network: a seed decides
/// how the links interleave and when which server dies; after every run each key must equal the
/// exact sum of the pushes, every push must have been acknowledged, and the surviving copies of
/// every range must be equal.
@Suite("Fail-over on the in-memory network")
struct FailoverSimulationTests {
    static let table = TableSpec(name: "weights", id: 0, valueLength: 2)
    static let keySpace = KeyRange(0, 600)
    static let deadlines = Deadlines(
        startup: .seconds(10), request: .seconds(20), barrier: .seconds(10), shutdown: .seconds(5),
        heartbeatInterval: .milliseconds(200), heartbeatTimeout: .seconds(1), job: .seconds(600))

    static var logger: Logger {
        var logger = Logger(label: "zps.test.failover")
        logger.logLevel = .critical
        return logger
    }

    struct Cluster {
        let network: InMemoryNetwork
        let reports: InMemoryClusterTests.Reports
        let servers: [String]
        let workers: [String]
    }

    static func makeCluster(seed: UInt64, servers: Int, workers: Int, replication: Int) -> Cluster {
        let network = InMemoryNetwork(seed: seed)
        let reports = InMemoryClusterTests.Reports()
        var managerSettings = ManagerSettings(
            bindEndpoint: "mem://manager", servers: servers, workers: workers, keySpace: keySpace, deadlines: deadlines)
        managerSettings.replication = replication
        network.add(ManagerCore(settings: managerSettings, logger: logger) { reports.append($0) }, endpoint: "mem://manager")
        func settings(_ role: NodeRole, _ rank: Int) -> NodeSettings {
            NodeSettings(
                role: role, rank: rank, managerEndpoint: "mem://manager", bindEndpoint: "mem://\(role)-\(rank)",
                tables: [table], deadlines: deadlines)
        }
        let serverNames = (0..<servers).map { "mem://server-\($0)" }
        for rank in 0..<servers {
            network.add(ServerCore(settings: settings(.server, rank), outcome: NodeOutcome(), logger: logger), endpoint: serverNames[rank])
        }
        let workerNames = (0..<workers).map { "mem://worker-\($0)" }
        for rank in 0..<workers {
            network.add(WorkerCore(settings: settings(.worker, rank), outcome: NodeOutcome(), logger: logger), endpoint: workerNames[rank])
        }
        network.deliverAll(shuffled: true)
        return Cluster(network: network, reports: reports, servers: serverNames, workers: workerNames)
    }

    /// The value worker `worker` pushes to component `component` of `key` in round `round`: small
    /// integers, so that every sum is exact in floats whatever the order.
    static func value(_ worker: Int, _ key: UInt64, _ round: Int, _ component: Int) -> Float {
        Float((worker + 1) * 7 + Int(key % 13) + round * 3 + component)
    }

    /// The outcome of one simulated run.
    struct Outcome {
        var failures: [String] = []
        var pulled: [Float] = []
        var expected: [Float] = []
        var acknowledged = 0
        var pushes = 0
        var copiesDiffer: [String] = []
    }

    /// Pushes `rounds` rounds from every worker at once, kills server `victim` after `killAfter`
    /// deliveries (none when `nil`), lets the manager notice, then pulls every key.
    static func run(seed: UInt64, victim: Int?, killAfter: Int, rounds: Int = 3) throws -> Outcome {
        let cluster = makeCluster(seed: seed, servers: 3, workers: 2, replication: 1)
        let network = cluster.network
        var random = SplitMix64(seed: seed &* 0x9E37_79B9)
        let keys = (0..<keySpace.upperBound).filter { _ in random.next() % 3 != 0 }
        let failures = Mutex<[String]>([])
        let acknowledged = Mutex(0)
        for (rank, endpoint) in cluster.workers.enumerated() {
            network.execute(on: endpoint) { handler, io in
                let core = handler as! WorkerCore
                for round in 1...rounds {
                    let values = keys.flatMap { key in (0..<2).map { value(rank, key, round, $0) } }
                    let timestamp = Timestamp(Int64(round))
                    core.submit(
                        WorkerCore.Request(kind: .push, table: table, keys: keys, values: values, updater: nil,
                                           iteration: nil, wantClock: false, pull: nil),
                        timestamp: timestamp, after: [], consistency: nil, io: io)
                    core.whenFinished(timestamp) { error in
                        if let error { failures.withLock { $0.append("worker-\(rank) push \(round): \(error)") } }
                        else { acknowledged.withLock { $0 += 1 } }
                    }
                }
            }
        }
        network.deliverAll(shuffled: true, limit: killAfter)
        if let victim { network.kill(cluster.servers[victim]) }
        network.deliverAll(shuffled: true)
        network.advance(by: .seconds(3), shuffled: true)
        network.deliverAll(shuffled: true)

        var outcome = Outcome()
        let pull = PendingPull(timestamp: Timestamp(Int64(rounds + 1)))
        network.execute(on: cluster.workers[0]) { handler, io in
            (handler as! WorkerCore).submit(
                WorkerCore.Request(kind: .pull, table: table, keys: keys, values: nil, updater: nil,
                                   iteration: nil, wantClock: false, pull: pull),
                timestamp: Timestamp(Int64(rounds + 1)), after: [], consistency: .sequential, io: io)
        }
        network.deliverAll(shuffled: true)
        network.advance(by: .milliseconds(100), shuffled: true)
        outcome.failures = failures.withLock { $0 }
        outcome.acknowledged = acknowledged.withLock { $0 }
        outcome.pushes = rounds * cluster.workers.count
        switch pull.result {
        case .success(let values)?: outcome.pulled = values.values
        case .failure(let error)?: outcome.failures.append("pull: \(error)")
        case nil: outcome.failures.append("pull: no answer")
        }
        outcome.expected = keys.flatMap { key in
            (0..<2).map { component in
                (0..<cluster.workers.count).reduce(Float(0)) { sum, worker in
                    sum + (1...rounds).reduce(Float(0)) { $0 + value(worker, key, $1, component) }
                }
            }
        }
        // Every surviving copy of a range equals its primary.
        var primaries: [KeyRange: [Float]] = [:]
        var copies: [(KeyRange, String, [Float])] = []
        for (rank, endpoint) in cluster.servers.enumerated() where network.isRunning(endpoint) {
            network.execute(on: endpoint) { handler, _ in
                let core = handler as! ServerCore
                let held = core.heldRanges(table: table.id)
                for range in held.primaries { primaries[range] = core.storedValues(table: table.id, range: range, replica: false) }
                for range in held.replicas {
                    copies.append((range, "server-\(rank)", core.storedValues(table: table.id, range: range, replica: true) ?? []))
                }
            }
        }
        for (range, holder, values) in copies where primaries[range] != values {
            outcome.copiesDiffer.append("\(holder)'s replica of \(range)")
        }
        return outcome
    }

    @Test("without a failure, replicated pushes sum exactly and every replica equals its primary")
    func noFailure() throws {
        for seed in 1...20 as ClosedRange<UInt64> {
            let outcome = try Self.run(seed: seed, victim: nil, killAfter: .max)
            #expect(outcome.failures == [], "seed \(seed)")
            #expect(outcome.acknowledged == outcome.pushes, "seed \(seed)")
            #expect(outcome.pulled == outcome.expected, "seed \(seed)")
            #expect(outcome.copiesDiffer == [], "seed \(seed)")
        }
    }

    /// One worker pushes FTRL gradients in sequence (each push after the previous one is
    /// acknowledged) and pulls every key at the end; with `victim`, that server dies after
    /// `killAfter` deliveries. Returns the pulled weights, or the failures.
    static func ftrlRun(seed: UInt64, victim: Int?, killAfter: Int) -> (weights: [Float], failures: [String]) {
        let ftrl = TableSpec(
            name: "ftrl", id: 0, valueLength: 1, updater: "ftrl",
            updaterOptions: ["alpha": 0.3, "beta": 1, "l1": 0.2, "l2": 0.5], consistency: .sequential)
        let network = InMemoryNetwork(seed: seed)
        var managerSettings = ManagerSettings(
            bindEndpoint: "mem://manager", servers: 3, workers: 1, keySpace: keySpace, deadlines: deadlines)
        managerSettings.replication = 1
        network.add(ManagerCore(settings: managerSettings, logger: logger) { _ in }, endpoint: "mem://manager")
        func settings(_ role: NodeRole, _ rank: Int) -> NodeSettings {
            NodeSettings(
                role: role, rank: rank, managerEndpoint: "mem://manager", bindEndpoint: "mem://\(role)-\(rank)",
                tables: [ftrl], deadlines: deadlines)
        }
        for rank in 0..<3 {
            network.add(ServerCore(settings: settings(.server, rank), outcome: NodeOutcome(), logger: logger), endpoint: "mem://server-\(rank)")
        }
        network.add(WorkerCore(settings: settings(.worker, 0), outcome: NodeOutcome(), logger: logger), endpoint: "mem://worker-0")
        network.deliverAll(shuffled: true)
        let keys = (0..<keySpace.upperBound).filter { $0 % 4 != 1 }
        let failures = Mutex<[String]>([])
        let steps = 8
        network.execute(on: "mem://worker-0") { handler, io in
            let core = handler as! WorkerCore
            for step in 1...steps {
                // Gradients of both signs and several sizes, so that l1 zeroes some weights.
                let gradients = keys.map { Float(Int(($0 &* 2_654_435_761 &+ UInt64(step) &* 97) % 41) - 20) / 16 }
                core.submit(
                    WorkerCore.Request(kind: .push, table: ftrl, keys: keys, values: gradients, updater: nil,
                                       iteration: nil, wantClock: false, pull: nil),
                    timestamp: Timestamp(Int64(step)), after: [], consistency: nil, io: io)
                core.whenFinished(Timestamp(Int64(step))) { error in
                    if let error { failures.withLock { $0.append("push \(step): \(error)") } }
                }
            }
        }
        network.deliverAll(shuffled: true, limit: killAfter)
        if let victim { network.kill("mem://server-\(victim)") }
        network.deliverAll(shuffled: true)
        network.advance(by: .seconds(3), shuffled: true)
        let pull = PendingPull(timestamp: Timestamp(Int64(steps + 1)))
        network.execute(on: "mem://worker-0") { handler, io in
            (handler as! WorkerCore).submit(
                WorkerCore.Request(kind: .pull, table: ftrl, keys: keys, values: nil, updater: nil,
                                   iteration: nil, wantClock: false, pull: pull),
                timestamp: Timestamp(Int64(steps + 1)), after: [], consistency: nil, io: io)
        }
        network.deliverAll(shuffled: true)
        network.advance(by: .milliseconds(100), shuffled: true)
        var list = failures.withLock { $0 }
        guard case .success(let values)? = pull.result else {
            list.append("pull: \(String(describing: pull.result))")
            return ([], list)
        }
        return (values.values, list)
    }

    @Test("sequential FTRL with a server killed at any moment ends with the fault-free weights, bit for bit")
    func sequentialFTRLIsBitIdentical() {
        let reference = Self.ftrlRun(seed: 1, victim: nil, killAfter: .max)
        #expect(reference.failures == [])
        #expect(reference.weights.contains { $0 != 0 } && reference.weights.contains(0), "l1 leaves some weights at 0, not all")
        var failed: [UInt64] = []
        for seed in 1...100 as ClosedRange<UInt64> {
            var random = SplitMix64(seed: seed ^ 0xF7)
            let victim = Int(random.next() % 3)
            let killAfter = Int(random.next() % 90)
            let run = Self.ftrlRun(seed: seed, victim: victim, killAfter: killAfter)
            if run.failures != [] || run.weights.map(\.bitPattern) != reference.weights.map(\.bitPattern) {
                failed.append(seed)
                if failed.count <= 3 {
                    Issue.record("seed \(seed) (server-\(victim) killed after \(killAfter) deliveries): failures \(run.failures), weights \(run.weights == reference.weights ? "equal" : "DIFFER")")
                }
            }
        }
        #expect(failed == [])
    }

    @Test("a server killed at any moment: every push acknowledged once, every key the exact sum")
    func killOneServer() throws {
        var failed: [UInt64] = []
        for seed in 1...300 as ClosedRange<UInt64> {
            var random = SplitMix64(seed: seed)
            let victim = Int(random.next() % 3)
            let killAfter = Int(random.next() % 120)
            let outcome = try Self.run(seed: seed, victim: victim, killAfter: killAfter)
            let ok = outcome.failures.isEmpty && outcome.acknowledged == outcome.pushes
                && outcome.pulled == outcome.expected && outcome.copiesDiffer.isEmpty
            if !ok {
                failed.append(seed)
                if failed.count <= 3 {
                    Issue.record("seed \(seed) (server-\(victim) killed after \(killAfter) deliveries): failures \(outcome.failures), acknowledged \(outcome.acknowledged)/\(outcome.pushes), sums \(outcome.pulled == outcome.expected ? "exact" : "WRONG"), differing copies \(outcome.copiesDiffer)")
                }
            }
        }
        #expect(failed == [])
    }
}
