import Logging
import Synchronization
import Testing

@testable import ParameterServer

/// A join that does not finish within `deadlines.join` is dropped: the joiner is told to stop, the
/// chains go back to those before the join, pushes held by the joiner's stuck copies are
/// acknowledged, and the next waiting joiner joins.
@Suite("A join past its deadline")
struct JoinDeadlineTests {
    static let table = TableSpec(name: "weights", id: 0, valueLength: 2)
    static let keySpace = KeyRange(0, 300)
    static let deadlines = Deadlines(
        startup: .seconds(10), request: .seconds(30), barrier: .seconds(10), shutdown: .seconds(5),
        heartbeatInterval: .milliseconds(200), heartbeatTimeout: .seconds(1), job: .seconds(600), join: .seconds(2))

    static func value(_ key: UInt64, _ round: Int, _ component: Int) -> Float {
        Float(Int(key % 13) + round * 3 + component)
    }

    @Test("a joiner whose copies never arrive is stopped after the deadline; the next joiner joins; every key is exact",
          arguments: [0, 1])
    func stuckJoinIsDropped(replication: Int) throws {
        let cluster = InMemoryJoinCluster(
            seed: 5, replication: replication, keySpace: Self.keySpace, table: Self.table, deadlines: Self.deadlines,
            logger: FailoverReprotectionTests.logger)
        let (network, reports, outcomes) = (cluster.network, cluster.reports, cluster.outcomes)

        let keys = Array(0..<Self.keySpace.upperBound)
        let failures = Mutex<[String]>([])
        let acknowledged = Mutex<[Int]>([])
        func push(round: Int) {
            network.execute(on: "mem://worker-0", as: WorkerCore.self) { core in
                let values = keys.flatMap { key in (0..<2).map { Self.value(key, round, $0) } }
                core.submit(
                    WorkerCore.Request(kind: .push, table: Self.table, keys: keys, values: values, updater: nil,
                                       iteration: nil, wantClock: false, pull: nil),
                    timestamp: Timestamp(Int64(round)), after: [], consistency: nil)
                core.whenFinished(Timestamp(Int64(round))) { error in
                    if let error { failures.withLock { $0.append("push \(round): \(error)") } }
                    acknowledged.withLock { $0.append(round) }
                }
            }
        }
        push(round: 1)
        network.advance(by: .milliseconds(400), shuffled: true)
        #expect(acknowledged.withLock { $0 } == [1])

        // server-3 joins, but nothing the servers send it arrives: its copies never complete.
        cluster.addServer(rank: 3)
        for rank in 0..<3 { network.clog(from: "mem://server-\(rank)", to: "mem://server-3") }
        network.deliverAll(shuffled: true)
        cluster.addServer(rank: 4)
        network.advance(by: .milliseconds(400), shuffled: true)
        var joining: [String] = []
        network.execute(on: "mem://manager", as: ManagerCore.self) { core in
            joining = core.join.map { [$0.name] } ?? []
        }
        #expect(joining == ["server-3"])
        push(round: 2)
        network.advance(by: .seconds(3), shuffled: true)

        #expect(!network.isRunning("mem://server-3"))
        let stopped = outcomes[3].failure ?? outcomes[3].jobFailure ?? ""
        #expect(stopped.contains("server-3 did not finish joining within 2"), "server-3: \(stopped)")
        #expect(network.isRunning("mem://server-4"))
        var table = NodeTable(version: 0, nodes: [])
        var recoveries: [String] = []
        network.execute(on: "mem://manager", as: ManagerCore.self) { core in
            table = core.table
            recoveries = core.recoveries
            #expect(core.join == nil)
        }
        let servers = table.nodes(withRole: .server)
        #expect(servers.map(\.rank).sorted() == [0, 1, 2, 4])
        #expect(servers.first { $0.rank == 4 }.map { !$0.ranges.isEmpty } == true, "server-4 serves no range")
        #expect(recoveries.contains { $0.hasPrefix("server-3 did not finish joining within") }, "\(recoveries)")
        #expect(recoveries.contains { $0.hasPrefix("server-4 (") && $0.contains("joined in") }, "\(recoveries)")

        // Both pushes were acknowledged and applied once each.
        push(round: 3)
        network.advance(by: .milliseconds(400), shuffled: true)
        #expect(failures.withLock { $0 } == [])
        #expect(acknowledged.withLock { $0 }.sorted() == [1, 2, 3])
        let pull = network.pull(keys, of: Self.table, 4)
        network.advance(by: .milliseconds(200), shuffled: true)
        let expected = keys.flatMap { key in (0..<2).map { component in (1...3).reduce(Float(0)) { $0 + Self.value(key, $1, component) } } }
        guard case .success(let pulled)? = pull.result else {
            Issue.record("pull: \(String(describing: pull.result))")
            return
        }
        #expect(pulled.values == expected)
        #expect(reports.withLock { $0 }.isEmpty)
    }
}
