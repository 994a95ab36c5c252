import Logging
import Synchronization
import Testing
import ZeroMQ

@testable import ParameterServer

/// A server dies while another joins: the join is abandoned, but the joiner is not stopped. It
/// drops what it had received, waits for the recovery's copies, and joins again under the same id
/// against the membership after the recovery (docs/FAULT-TOLERANCE.md, "Joins").
@Suite("A join abandoned by a server's death")
struct JoinAbandonTests {
    static let table = TableSpec(name: "weights", id: 0, valueLength: 2)
    static let keySpace = KeyRange(0, 300)
    static let deadlines = Deadlines(
        startup: .seconds(10), request: .seconds(30), barrier: .seconds(10), shutdown: .seconds(5),
        heartbeatInterval: .milliseconds(200), heartbeatTimeout: .seconds(1), job: .seconds(600), join: .seconds(60))

    static func value(_ key: UInt64, _ round: Int, _ component: Int) -> Float {
        Float(Int(key % 13) + round * 3 + component)
    }

    /// What the joiner and the worker were sent, as the network delivered it.
    final class Deliveries: Sendable {
        /// The kinds of the manager's messages to the joiner.
        let toJoinerFromManager = Mutex<[MessageKind]>([])
        /// The node table versions the worker's requests to the joiner were routed by.
        let workerRequestVersions = Mutex<[UInt64]>([])
        /// The node table versions of the replicates the servers sent the joiner (copies and results).
        let replicateVersions = Mutex<[UInt64]>([])
    }

    /// The worker's pushes: which were acknowledged, and which failed.
    final class Pushes: Sendable {
        let failures = Mutex<[String]>([])
        let acknowledged = Mutex<[Int]>([])
    }

    /// Three servers (`replication: 1`) and a worker that pushed round 1; server-3 joins, and
    /// everything the servers send it waits (a clogged link), so that it is still catching up when
    /// server-1 dies after round 2 was pushed. The copies of the recovery between the two servers
    /// left wait too: the joiner, abandoned, waits for them longer than the heartbeat timeout.
    final class Scenario {
        let network = InMemoryNetwork(seed: 7)
        let reports = InMemoryClusterTests.Reports()
        let manager: ManagerCore
        let joinerOutcome = NodeOutcome()
        let deliveries = Deliveries()
        let keys = Array(0..<JoinAbandonTests.keySpace.upperBound)
        let pushes = Pushes()
        /// The id the joiner had in the join that was abandoned.
        private(set) var firstID: NodeID?

        init() {
            var managerSettings = ManagerSettings(
                bindEndpoint: "mem://manager", servers: 3, workers: 1, keySpace: JoinAbandonTests.keySpace,
                deadlines: JoinAbandonTests.deadlines)
            managerSettings.replication = 1
            let reports = reports
            manager = ManagerCore(settings: managerSettings, logger: FailoverReprotectionTests.logger) { reports.append($0) }
            network.add(manager, endpoint: "mem://manager")
            for rank in 0..<3 {
                network.add(
                    ServerCore(settings: Self.settings(.server, rank), outcome: NodeOutcome(), logger: FailoverReprotectionTests.logger),
                    endpoint: "mem://server-\(rank)")
            }
            network.add(
                WorkerCore(settings: Self.settings(.worker, 0), outcome: NodeOutcome(), logger: FailoverReprotectionTests.logger),
                endpoint: "mem://worker-0")
            let deliveries = deliveries
            network.deliveryObserver = { from, to, frames in
                guard to == "mem://server-3", let header = try? MessageCodec.decodeEncoded(frames).header else { return }
                if from == "mem://manager" { deliveries.toJoinerFromManager.withLock { $0.append(header.kind) } }
                if header.kind == .replicate { deliveries.replicateVersions.withLock { $0.append(header.tableVersion ?? 0) } }
                if from == "mem://worker-0", header.kind == .push || header.kind == .pull {
                    deliveries.workerRequestVersions.withLock { $0.append(header.tableVersion ?? 0) }
                }
            }
            network.deliverAll(shuffled: true)
        }

        static func settings(_ role: NodeRole, _ rank: Int) -> NodeSettings {
            NodeSettings(
                role: role, rank: rank, managerEndpoint: "mem://manager", bindEndpoint: "mem://\(role)-\(rank)",
                tables: [JoinAbandonTests.table], deadlines: JoinAbandonTests.deadlines)
        }

        func push(round: Int) {
            let (keys, pushes) = (keys, pushes)
            network.execute(on: "mem://worker-0", as: WorkerCore.self) { core in
                let values = keys.flatMap { key in (0..<2).map { JoinAbandonTests.value(key, round, $0) } }
                core.submit(
                    WorkerCore.Request(kind: .push, table: JoinAbandonTests.table, keys: keys, values: values, updater: nil,
                                       iteration: nil, wantClock: false, pull: nil),
                    timestamp: Timestamp(Int64(round)), after: [], consistency: nil)
                core.whenFinished(Timestamp(Int64(round))) { error in
                    if let error { pushes.failures.withLock { $0.append("push \(round): \(error)") } }
                    pushes.acknowledged.withLock { $0.append(round) }
                }
            }
        }

        /// Runs the scenario up to the joiner's wait, and checks that it waits.
        func abandonJoin() {
            push(round: 1)
            network.advance(by: .milliseconds(400), shuffled: true)
            #expect(pushes.acknowledged.withLock { $0 } == [1])

            network.add(
                ServerCore(settings: Self.settings(.server, 3), outcome: joinerOutcome, logger: FailoverReprotectionTests.logger),
                endpoint: "mem://server-3")
            for rank in 0..<3 { network.clog(from: "mem://server-\(rank)", to: "mem://server-3") }
            network.deliverAll(shuffled: true)
            firstID = manager.join?.plan.joiner
            let catchingUp: Bool
            if case .catchingUp? = manager.join?.stage { catchingUp = true } else { catchingUp = false }
            #expect(catchingUp, "server-3 is not catching up: \(String(describing: manager.join))")
            push(round: 2)
            network.advance(by: .milliseconds(200), shuffled: true)

            network.kill("mem://server-1")
            network.clog(from: "mem://server-0", to: "mem://server-2")
            network.clog(from: "mem://server-2", to: "mem://server-0")
            network.advance(by: .milliseconds(2500), shuffled: true)
            #expect(manager.recoveries.contains { $0.hasPrefix("server-3's join was abandoned: server-1 died") }, "\(manager.recoveries)")
            #expect(manager.join == nil)
            #expect(manager.joiners.map(\.id) == [firstID])
            #expect(network.isRunning("mem://server-3"))
            var waiting: (listed: UInt64?, held: Int) = (0, -1)
            network.execute(on: "mem://server-3", as: ServerCore.self) { core in
                waiting = (core.listedSince, core.heldRanges(table: JoinAbandonTests.table.id).replicas.count)
            }
            #expect(waiting.listed == nil && waiting.held == 0, "\(waiting)")
        }

        /// Lets the recovery's copies through.
        func finishRecovery() {
            network.unclog(from: "mem://server-0", to: "mem://server-2")
            network.unclog(from: "mem://server-2", to: "mem://server-0")
        }

        /// Pushes round 3 and pulls: every push acknowledged once, every key the exact sum of the three.
        func expectExactSums() {
            push(round: 3)
            network.advance(by: .milliseconds(400), shuffled: true)
            #expect(pushes.failures.withLock { $0 } == [])
            #expect(pushes.acknowledged.withLock { $0 }.sorted() == [1, 2, 3])
            let pull = network.pull(keys, of: JoinAbandonTests.table, 4)
            network.advance(by: .milliseconds(200), shuffled: true)
            let expected = keys.flatMap { key in
                (0..<2).map { component in (1...3).reduce(Float(0)) { $0 + JoinAbandonTests.value(key, $1, component) } }
            }
            guard case .success(let pulled)? = pull.result else {
                Issue.record("pull: \(String(describing: pull.result))")
                return
            }
            #expect(pulled.values == expected)
            #expect(reports.withLock { $0 }.isEmpty)
        }
    }

    @Test("a server killed while the joiner catches up: the joiner joins again and heads its share; every key is exact")
    func joinerJoinsAgainAfterAServerDies() throws {
        let scenario = Scenario()
        let (network, manager, deliveries) = (scenario.network, scenario.manager, scenario.deliveries)
        scenario.abandonJoin()
        scenario.finishRecovery()
        network.advance(by: .milliseconds(500), shuffled: true)
        // Joining again: the manager planned it anew under the same id, and the joiner took it.
        #expect(manager.join?.plan.joiner == scenario.firstID, "\(String(describing: manager.join))")
        #expect(network.isRunning("mem://server-3"))
        for rank in 0..<3 { network.unclog(from: "mem://server-\(rank)", to: "mem://server-3") }
        network.advance(by: .seconds(1), shuffled: true)

        #expect(manager.join == nil)
        let line = manager.recoveries.first { $0.hasPrefix("server-3 (") && $0.contains("joined in") }
        #expect(line != nil, "\(manager.recoveries)")
        let switchVersion = line.flatMap { $0.firstMatch(of: /node table version (\d+)$/) }.flatMap { UInt64($0.1) } ?? .max
        let servers = manager.table.nodes(withRole: .server)
        #expect(servers.map(\.rank).sorted() == [0, 2, 3])
        let joiner = servers.first { $0.rank == 3 }
        #expect(joiner?.id == scenario.firstID)
        // Three servers after the join: the joiner heads exactly ⌊300/3⌋ keys, as its plan says.
        let share = joiner?.ranges.reduce(UInt64(0)) { $0 + $1.count }
        #expect(share == Self.keySpace.count / 3)
        var held: [KeyRange] = []
        var listedSince: UInt64?
        network.execute(on: "mem://server-3", as: ServerCore.self) { core in
            held = core.heldRanges(table: Self.table.id).primaries
            listedSince = core.listedSince
        }
        #expect(held.sorted { $0.lowerBound < $1.lowerBound } == joiner?.ranges.sorted { $0.lowerBound < $1.lowerBound })
        // What the servers sent it for the abandoned join reached it after it was listed again
        // (and was dropped), before the copies of the new join.
        let replicates = deliveries.replicateVersions.withLock { $0 }
        #expect(
            replicates.contains { $0 < listedSince ?? 0 } && replicates.contains { $0 >= listedSince ?? .max },
            "\(replicates), listed since \(String(describing: listedSince))")
        #expect(!deliveries.toJoinerFromManager.withLock { $0 }.contains(.shutdown))
        #expect(scenario.joinerOutcome.failure == nil && scenario.joinerOutcome.jobFailure == nil)

        scenario.expectExactSums()
        // The worker sent the joiner requests only by the tables of its finished join.
        let versions = deliveries.workerRequestVersions.withLock { $0 }
        #expect(!versions.isEmpty, "the worker never sent server-3 a request")
        #expect(versions.allSatisfy { $0 >= switchVersion }, "routed by \(versions), the switch is \(switchVersion)")
    }

    @Test("a joiner that dies while it waits to join again leaves the queue; no join starts; every key is exact")
    func joinerDiesWhileItWaits() throws {
        let scenario = Scenario()
        let (network, manager) = (scenario.network, scenario.manager)
        scenario.abandonJoin()
        network.kill("mem://server-3")
        network.advance(by: .milliseconds(1300), shuffled: true)
        #expect(manager.joiners.isEmpty)
        #expect(manager.recoveries.last == "server-3 stopped sending heartbeats while it waited to join again: it is dropped")
        scenario.finishRecovery()
        network.advance(by: .milliseconds(500), shuffled: true)
        #expect(manager.join == nil)
        #expect(manager.table.nodes(withRole: .server).map(\.rank).sorted() == [0, 2])
        scenario.expectExactSums()
    }
}
