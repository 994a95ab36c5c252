import Logging
import Testing
import ZeroMQ

@testable import ParameterServer

/// Range functions under replication (docs/FAULT-TOLERANCE.md): a primary runs the function, its
/// results (and clock) go down the chain like a push's, and the call is acknowledged once the
/// replica holds them; a call sent again after its primary died is not run twice.
@Suite("Range functions under replication")
struct RangeFunctionReplicationTests {
    static let table = TableSpec(name: "weights", id: 0, valueLength: 1, consistency: .eventual)

    @Test("a scale acknowledged by the replica survives the primary's death, and the worker's resent call is not run again")
    func scaleSurvivesTheKill() throws {
        let network = ReplicatedPair.start(table: Self.table, seed: 5, logger: ReplicatedPair.logger("zps.test.range-functions"))
        let halves = ReplicatedPair.halves
        let keys = Array(ReplicatedPair.keySpace.lowerBound..<ReplicatedPair.keySpace.upperBound)
        let pushed = keys.map { Float($0 % 7) + 1 }
        let outcomes = RequestOutcomes()
        func submit(_ request: WorkerCore.Request, _ timestamp: Int64) { network.submit(request, timestamp, outcomes: outcomes) }
        submit(WorkerCore.Request(kind: .push, table: Self.table, keys: keys, values: pushed, updater: nil,
                                  iteration: nil, wantClock: false, pull: nil), 1)
        network.deliverAll()
        #expect(outcomes.all == [1: "ok"])

        // The call reaches both servers and down both chains; its acknowledgements wait at the
        // paused worker, and the primary of the lower half dies with its acknowledgement unsent.
        submit(WorkerCore.Request(kind: .rangeFunction, table: Self.table, keys: [], values: nil, updater: "scale",
                                  iteration: nil, wantClock: false, pull: nil, range: ReplicatedPair.keySpace, arguments: [3]), 2)
        network.pause("mem://worker-0")
        network.deliverAll()
        func entries(_ server: Int, _ range: KeyRange, replica: Bool) -> [Float]? {
            ReplicatedPair.entries(on: network, server, range, table: Self.table, replica: replica)
        }
        func clock(_ server: Int, _ range: KeyRange) -> [ClockRecord]? {
            var clock: [ClockRecord]?
            network.execute(on: "mem://server-\(server)", as: ServerCore.self) { core in
                clock = core.storedClock(table: Self.table.id, range: range)
            }
            return clock
        }
        let scaled = pushed.map { $0 * 3 }
        let lower = Array(scaled[0..<Int(halves[0].count)])
        // The replica of the lower half holds the result, and the clock the primary keeps.
        #expect(entries(1, halves[0], replica: true) == lower)
        let primaryClock = try #require(clock(0, halves[0]))
        #expect(primaryClock.map(\.timestamp.rawValue) == [2])
        #expect(clock(1, halves[0]) == primaryClock)

        network.kill("mem://server-0", losingUnsent: true)
        network.resume("mem://worker-0")
        network.deliverAll()
        #expect(outcomes.all == [1: "ok"])
        network.advance(by: .seconds(2))
        #expect(outcomes.all == [1: "ok", 2: "ok"])
        // Server 1 now heads both halves: every key scaled once.
        #expect(entries(1, halves[0], replica: false) == lower)
        #expect(entries(1, halves[1], replica: false) == Array(scaled[Int(halves[0].count)...]))
        #expect(clock(1, halves[0]) == primaryClock)
    }
}
