import Logging
import Testing

@testable import ParameterServer

/// Servers that ask to join while another join runs wait for their turn; when the job ends first,
/// each is told to stop, as a member is.
@Suite("Joiners waiting for their turn")
struct JoinQueueTests {
    static let table = TableSpec(name: "weights", id: 0, valueLength: 1)
    static let logger = Logger(label: "zps.test.join-queue")

    @Test("a joiner still waiting for its turn when the job ends is told to stop, and stops without a failure")
    func waitingJoinerStopsWithTheJob() throws {
        let cluster = InMemoryJoinCluster(
            seed: 3, replication: 1, keySpace: KeyRange(0, 300), table: Self.table, deadlines: JoinAbandonTests.deadlines,
            logger: Self.logger)
        let (network, reports, outcomes) = (cluster.network, cluster.reports, cluster.outcomes)
        let keys = Array(UInt64(0)..<300)
        let outcomesOfRequests = RequestOutcomes()
        network.submit(
            WorkerCore.Request(kind: .push, table: Self.table, keys: keys, values: keys.map { Float($0) }, updater: nil,
                               iteration: nil, wantClock: false, pull: nil), 1, outcomes: outcomesOfRequests)
        network.advance(by: .milliseconds(200), shuffled: true)
        #expect(outcomesOfRequests.all == [1: "ok"])

        // server-3 joins (the stores hold values, so it has copies to wait for) and stays catching up (nothing the servers send it arrives); server-4 waits.
        cluster.addServer(rank: 3)
        for rank in 0..<3 { network.clog(from: "mem://server-\(rank)", to: "mem://server-3") }
        network.deliverAll(shuffled: true)
        cluster.addServer(rank: 4)
        network.advance(by: .milliseconds(200), shuffled: true)
        var state: (joining: String?, waiting: [UInt32]) = (nil, [])
        network.execute(on: "mem://manager", as: ManagerCore.self) { core in
            state = (core.join?.name, core.joiners.filter { $0.id == nil }.map(\.rank))
        }
        #expect(state.joining == "server-3")
        #expect(state.waiting == [4])

        network.execute(on: "mem://worker-0", as: WorkerCore.self) { core in core.reportDone(summary: "done", failure: nil) }
        network.advance(by: .seconds(1), shuffled: true)
        #expect(!network.isRunning("mem://server-4"), "the waiting joiner still runs after the job ended")
        #expect(outcomes[4].failure == nil, "server-4: \(outcomes[4].failure ?? "")")
        #expect(outcomes[4].jobFailure == nil)
        #expect(reports.withLock { $0 }.count == 1)
        #expect(reports.withLock { $0 }.first?.failure == nil)
    }
}
