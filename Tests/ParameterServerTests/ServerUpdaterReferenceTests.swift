import Logging
import Testing

@testable import ParameterServer

/// The built-in updaters as a real server applies them: a manager, one server and one worker on the
/// in-memory network, the table's updater and options from its ``TableSpec``, pushes one at a time,
/// and the pulled values compared with the published formulas (``UpdaterReference``).
@Suite("Updaters on a server against their published formulas")
struct ServerUpdaterReferenceTests {
    static let deadlines = Deadlines(
        startup: .seconds(10), request: .seconds(10), barrier: .seconds(10), shutdown: .seconds(5),
        heartbeatInterval: .milliseconds(500), heartbeatTimeout: .seconds(3), job: .seconds(600))

    static var logger: Logger {
        var logger = Logger(label: "zps.test.updaters")
        logger.logLevel = .critical
        return logger
    }

    /// Where the pushed keys start.
    static let base: UInt64 = 1000

    /// A key space of 4096 keys gives the server a dense store; the whole 64-bit key space a sorted one.
    enum Layout: String, CaseIterable, Sendable {
        case dense, sorted
        var keySpace: KeyRange { self == .dense ? KeyRange(0, 4096) : .all }
    }

    /// A registered manager, server and worker serving `table`.
    struct Cluster {
        let network: InMemoryNetwork
        let table: TableSpec
        var timestamp: Int64 = 0

        init(table: TableSpec, layout: Layout) {
            self.table = table
            network = InMemoryNetwork(seed: 1)
            let manager = ManagerCore(
                settings: ManagerSettings(
                    bindEndpoint: "mem://manager", servers: 1, workers: 1, keySpace: layout.keySpace, deadlines: deadlines),
                logger: logger
            ) { _ in }
            network.add(manager, endpoint: "mem://manager")
            func settings(_ role: NodeRole) -> NodeSettings {
                NodeSettings(
                    role: role, rank: 0, managerEndpoint: "mem://manager", bindEndpoint: "mem://\(role)-0",
                    tables: [table], deadlines: deadlines)
            }
            network.add(ServerCore(settings: settings(.server), outcome: NodeOutcome(), logger: logger), endpoint: "mem://server-0")
            network.add(WorkerCore(settings: settings(.worker), outcome: NodeOutcome(), logger: logger), endpoint: "mem://worker-0")
            network.deliverAll()
        }

        /// Sends one push (naming `updater` in its header when given) and delivers until it is applied.
        mutating func push(_ push: UpdaterReference.Push, updater: String?) {
            timestamp += 1
            let (table, timestamp) = (self.table, Timestamp(timestamp))
            network.execute(on: "mem://worker-0", as: WorkerCore.self) { core in
                core.submit(
                    WorkerCore.Request(
                        kind: .push, table: table, keys: push.keys, values: push.values, updater: updater,
                        iteration: nil, wantClock: false, pull: nil),
                    timestamp: timestamp, after: [], consistency: nil)
            }
            network.deliverAll()
        }

        /// Pulls `keys` (with a sequential pull, after every push).
        mutating func pull(_ keys: [UInt64]) throws -> [Float] {
            timestamp += 1
            let (table, timestamp) = (self.table, Timestamp(timestamp))
            let pending = PendingPull(timestamp: timestamp)
            network.execute(on: "mem://worker-0", as: WorkerCore.self) { core in
                core.submit(
                    WorkerCore.Request(
                        kind: .pull, table: table, keys: keys, values: nil, updater: nil,
                        iteration: nil, wantClock: false, pull: pending),
                    timestamp: timestamp, after: [], consistency: .sequential)
            }
            network.deliverAll()
            return try #require(pending.result).get().values
        }
    }

    static let keys = Array(base..<(base + 64))

    static let cases: [(UpdaterReference.Rule, Layout, Int)] = UpdaterReference.rules.flatMap { rule in
        Layout.allCases.flatMap { layout in [1, 3].map { (rule, layout, $0) } }
    }

    @Test("the table's updater, with the topology's options, gives the formula's values", arguments: cases)
    func tableUpdaterMatchesFormula(rule: UpdaterReference.Rule, layout: Layout, valueLength: Int) throws {
        let table = TableSpec(
            name: "weights", id: 0, valueLength: valueLength, updater: rule.name, updaterOptions: rule.options)
        var cluster = Cluster(table: table, layout: layout)
        let pushes = UpdaterReference.pushes(base: Self.base, valueLength: valueLength)
        for push in pushes { cluster.push(push, updater: nil) }
        let expected = UpdaterReference.expectedValues(of: pushes, valueLength: valueLength, rule: rule, keys: Self.keys)
        #expect(try cluster.pull(Self.keys) == expected)
    }

    /// Header field `u`: a push that names the table's own updater gets it with the table's options;
    /// a push that names another (stateless) updater gets that updater with its default options.
    @Test("a push that names its updater (header u) gets it", arguments: Layout.allCases, [1, 3])
    func pushNamesItsUpdater(layout: Layout, valueLength: Int) throws {
        let ftrl = UpdaterReference.rules.first { $0.name == "ftrl" }!
        let ftrlTable = TableSpec(name: "weights", id: 0, valueLength: valueLength, updater: "ftrl", updaterOptions: ftrl.options)
        var cluster = Cluster(table: ftrlTable, layout: layout)
        let pushes = UpdaterReference.pushes(base: Self.base, valueLength: valueLength)
        for push in pushes { cluster.push(push, updater: "ftrl") }
        #expect(
            try cluster.pull(Self.keys)
                == UpdaterReference.expectedValues(of: pushes, valueLength: valueLength, rule: ftrl, keys: Self.keys))

        // An add table whose pushes name sgd (defaults: learning_rate 0.1, l2 0), assign, or nothing (add).
        let addTable = TableSpec(name: "weights", id: 0, valueLength: valueLength, updater: "add")
        var mixed = Cluster(table: addTable, layout: layout)
        let names: [String?] = ["sgd", nil, "assign", "sgd", "add", "sgd"]
        var expected = [Float](repeating: 0, count: Self.keys.count * valueLength)
        for (push, name) in zip(pushes, names) {
            mixed.push(push, updater: name)
            let rule = UpdaterReference.Rule(name: name ?? "add", options: [:])
            for (index, key) in push.keys.enumerated() {
                let slot = Int(key - Self.base) * valueLength
                for component in 0..<valueLength {
                    var coordinate = UpdaterReference.Coordinate(w: expected[slot + component])
                    rule.step(&coordinate, push.values[index * valueLength + component])
                    expected[slot + component] = coordinate.w
                }
            }
        }
        #expect(try mixed.pull(Self.keys) == expected)
    }
}
