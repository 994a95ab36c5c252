import Logging
import Testing

@testable import ParameterServer

/// While a join drains a segment (docs/FAULT-TOLERANCE.md, "Joins"), its old primary refuses every
/// request on it with `staleTable` — range pulls and range functions as well as keyed pushes and
/// pulls — so that nothing changes it after the drain is reported, and the joiner serves it from
/// the switch on.
@Suite("Requests on a segment being drained")
struct JoinDrainTests {
    static let table = TableSpec(name: "weights", id: 0, valueLength: 1, consistency: .eventual)
    static let keySpace = KeyRange(0, 300)
    static let logger = Logger(label: "zps.test.join-drain")

    @Test("a range function and a range pull on draining segments are refused with staleTable; the function runs once, at the joiner")
    func rangeRequestsWaitForTheSwitch() throws {
        let cluster = InMemoryJoinCluster(
            seed: 11, replication: 1, keySpace: Self.keySpace, table: Self.table, deadlines: JoinDeadlineTests.deadlines,
            logger: Self.logger)
        let (network, reports) = (cluster.network, cluster.reports)

        let keys = Array(Self.keySpace.lowerBound..<Self.keySpace.upperBound)
        let pushed = keys.map { Float($0 % 11) + 1 }
        let outcomes = RequestOutcomes()
        func submit(_ request: WorkerCore.Request, _ timestamp: Int64) { network.submit(request, timestamp, outcomes: outcomes) }
        submit(WorkerCore.Request(kind: .push, table: Self.table, keys: keys, values: pushed, updater: nil,
                                  iteration: nil, wantClock: false, pull: nil), 1)
        network.advance(by: .milliseconds(200), shuffled: true)
        #expect(outcomes.all == [1: "ok"])

        // server-3 joins; the network runs one message at a time until the manager drains.
        cluster.addServer(rank: 3)
        func managerDrains() -> Bool {
            var drains = false
            network.execute(on: "mem://manager", as: ManagerCore.self) { core in
                if case .draining? = core.join?.stage { drains = true }
            }
            return drains
        }
        var steps = 0
        while !managerDrains(), steps < 100_000, network.deliverAll(shuffled: true, limit: 1) == 1 { steps += 1 }
        try #require(managerDrains(), "the join never reached its drain after \(steps) messages")
        // The drain reports and the results for the joiner wait: the segments stay in their drain
        // while the drain table reaches every old primary.
        for rank in 0..<3 {
            network.clog(from: "mem://server-\(rank)", to: "mem://manager")
            network.clog(from: "mem://server-\(rank)", to: "mem://server-3")
        }
        network.deliverAll(shuffled: true)
        var drained: [Int: [KeyRange]] = [:]
        for rank in 0..<3 {
            network.execute(on: "mem://server-\(rank)", as: ServerCore.self) { core in
                drained[rank] = core.draining.keys.sorted { $0.lowerBound < $1.lowerBound }
            }
        }
        let (drainer, segments) = try #require(drained.first { !$0.value.isEmpty }, "no old primary drains a segment: \(drained)")

        // A range pull of a draining segment, as a foreign client sends it.
        var refusal: Header?
        var drainTable: UInt64 = 0
        network.execute(on: "mem://server-\(drainer)", as: ServerCore.self) { core in
            drainTable = core.tableVersion
            let header = Header(
                kind: .pull, sender: NodeID(rawValue: 1_000), requestID: 7, table: Self.table.id,
                keyRange: segments[0], flags: .rangeRequest, keyCount: 0, valueLength: 1)
            refusal = core.answer(Message(header: header), from: .endpoint("mem://foreign"))?.header
        }
        #expect(refusal?.errorCode == .staleTable)
        #expect(refusal?.tableVersion == drainTable + 1)
        #expect(refusal?.requestID == 7)

        // A range function over every key: the draining segments refuse it until the switch.
        submit(WorkerCore.Request(kind: .rangeFunction, table: Self.table, keys: [], values: nil, updater: "scale",
                                  iteration: nil, wantClock: false, pull: nil, range: Self.keySpace, arguments: [3]), 2)
        network.deliverAll(shuffled: true)
        #expect(outcomes.all[2] == nil)
        for rank in 0..<3 {
            network.unclog(from: "mem://server-\(rank)", to: "mem://manager")
            network.unclog(from: "mem://server-\(rank)", to: "mem://server-3")
        }
        network.advance(by: .seconds(1), shuffled: true)
        #expect(outcomes.all == [1: "ok", 2: "ok"])

        var table = NodeTable(version: 0, nodes: [])
        network.execute(on: "mem://manager", as: ManagerCore.self) { core in
            table = core.table
            #expect(core.join == nil)
        }
        let joiner = try #require(table.nodes(withRole: .server).first { $0.rank == 3 })
        #expect(!joiner.ranges.isEmpty, "server-3 serves no range")
        for segment in segments {
            #expect(table.chains.first { $0.range == segment }?.nodes.contains(joiner.id) == true, "\(segment) did not move to the joiner")
        }

        // Every key scaled exactly once.
        let pull = network.pull(keys, of: Self.table, 3)
        network.advance(by: .milliseconds(200), shuffled: true)
        guard case .success(let pulled)? = pull.result else {
            Issue.record("pull: \(String(describing: pull.result))")
            return
        }
        #expect(pulled.values == pushed.map { $0 * 3 })
        #expect(reports.withLock { $0 }.isEmpty)
    }
}
