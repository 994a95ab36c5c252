import Logging
import Synchronization
import Testing
import ZeroMQ

@testable import ParameterServer

/// Range functions under replication (docs/FAULT-TOLERANCE.md): a primary runs the function, its
/// results (and clock) go down the chain like a push's, and the call is acknowledged once the
/// replica holds them; a call sent again after its primary died is not run twice.
@Suite("Range functions under replication")
struct RangeFunctionReplicationTests {
    static let table = TableSpec(name: "weights", id: 0, valueLength: 1, consistency: .eventual)
    static let keySpace = KeyRange(0, 200)
    static let deadlines = Deadlines(
        startup: .seconds(10), request: .seconds(20), barrier: .seconds(10), shutdown: .seconds(5),
        heartbeatInterval: .milliseconds(200), heartbeatTimeout: .seconds(1), job: .seconds(600))

    static var logger: Logger {
        var logger = Logger(label: "zps.test.range-functions")
        logger.logLevel = .critical
        return logger
    }

    @Test("a scale acknowledged by the replica survives the primary's death, and the worker's resent call is not run again")
    func scaleSurvivesTheKill() throws {
        let network = InMemoryNetwork(seed: 5)
        var managerSettings = ManagerSettings(
            bindEndpoint: "mem://manager", servers: 2, workers: 1, keySpace: Self.keySpace, deadlines: Self.deadlines)
        managerSettings.replication = 1
        // One segment per server: server 0 heads the lower half, server 1 the upper half.
        managerSettings.virtualNodes = 1
        network.add(ManagerCore(settings: managerSettings, logger: Self.logger) { _ in }, endpoint: "mem://manager")
        func settings(_ role: NodeRole, _ rank: Int) -> NodeSettings {
            NodeSettings(
                role: role, rank: rank, managerEndpoint: "mem://manager", bindEndpoint: "mem://\(role)-\(rank)",
                tables: [Self.table], deadlines: Self.deadlines)
        }
        for rank in 0..<2 {
            network.add(ServerCore(settings: settings(.server, rank), outcome: NodeOutcome(), logger: Self.logger), endpoint: "mem://server-\(rank)")
        }
        network.add(WorkerCore(settings: settings(.worker, 0), outcome: NodeOutcome(), logger: Self.logger), endpoint: "mem://worker-0")
        network.deliverAll()

        let halves = Self.keySpace.split(into: 2)
        let keys = Array(Self.keySpace.lowerBound..<Self.keySpace.upperBound)
        let pushed = keys.map { Float($0 % 7) + 1 }
        let finished = Mutex<[Int64: String]>([:])
        func submit(_ request: WorkerCore.Request, _ timestamp: Int64) {
            network.execute(on: "mem://worker-0", as: WorkerCore.self) { core in
                core.submit(request, timestamp: Timestamp(timestamp), after: [], consistency: nil)
                core.whenFinished(Timestamp(timestamp)) { error in finished.withLock { $0[timestamp] = error.map { "\($0)" } ?? "ok" } }
            }
        }
        submit(WorkerCore.Request(kind: .push, table: Self.table, keys: keys, values: pushed, updater: nil,
                                  iteration: nil, wantClock: false, pull: nil), 1)
        network.deliverAll()
        #expect(finished.withLock { $0 } == [1: "ok"])

        // The call reaches both servers and down both chains; its acknowledgements wait at the
        // paused worker, and the primary of the lower half dies with its acknowledgement unsent.
        submit(WorkerCore.Request(kind: .rangeFunction, table: Self.table, keys: [], values: nil, updater: "scale",
                                  iteration: nil, wantClock: false, pull: nil, range: Self.keySpace, arguments: [3]), 2)
        network.pause("mem://worker-0")
        network.deliverAll()
        func entries(_ server: Int, _ range: KeyRange, replica: Bool) -> [Float]? {
            var entries: [Float]?
            network.execute(on: "mem://server-\(server)", as: ServerCore.self) { core in
                entries = core.storedEntries(table: Self.table.id, range: range, replica: replica)?.entries
            }
            return entries
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
        #expect(finished.withLock { $0 } == [1: "ok"])
        network.advance(by: .seconds(2))
        #expect(finished.withLock { $0 } == [1: "ok", 2: "ok"])
        // Server 1 now heads both halves: every key scaled once.
        #expect(entries(1, halves[0], replica: false) == lower)
        #expect(entries(1, halves[1], replica: false) == Array(scaled[Int(halves[0].count)...]))
        #expect(clock(1, halves[0]) == primaryClock)
    }
}
