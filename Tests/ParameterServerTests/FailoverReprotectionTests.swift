import Logging
import Synchronization
import Testing
import ZeroMQ

@testable import ParameterServer

/// Re-protection on the in-memory network: after a server dies, each range it held gets a new
/// replica, copied whole from its chain, so that with `replication: 1` the job survives a second
/// death — of any other server — once the copies are done.
@Suite("Re-protection after a fail-over")
struct FailoverReprotectionTests {
    static let table = TableSpec(name: "weights", id: 0, valueLength: 3)
    static let keySpace = KeyRange(0, 400)
    static let deadlines = Deadlines(
        startup: .seconds(10), request: .seconds(20), barrier: .seconds(10), shutdown: .seconds(5),
        heartbeatInterval: .milliseconds(200), heartbeatTimeout: .seconds(1), job: .seconds(600))

    /// The segments of the manager's ring, each with its own chain: removals pass segments to other
    /// servers and never cut them.
    static let segments: [KeyRange] = {
        var membership = Membership(keySpace: keySpace, replication: 1)
        for rank in 0..<3 { _ = try? membership.join(role: .server, rank: UInt32(rank), endpoint: "mem://server-\(rank)") }
        return membership.chains.map(\.range)
    }()

    static var logger: Logger {
        var logger = Logger(label: "zps.test.reprotection")
        logger.logLevel = .critical
        return logger
    }

    struct Outcome {
        var failures: [String] = []
        var pulled: [Float] = []
        var expected: [Float] = []
        /// Per range: how many live servers hold it (primary and replicas), and whether they agree.
        var holders: [KeyRange: Int] = [:]
        var copiesDiffer: [String] = []
        var reports: [JobReport] = []
    }

    static func value(_ worker: Int, _ key: UInt64, _ round: Int, _ component: Int) -> Float {
        Float((worker + 1) * 5 + Int(key % 11) + round * 2 + component)
    }

    /// Three servers, `replication: 1`, two workers pushing `rounds` rounds; `first` dies after
    /// `firstAfter` deliveries, and once its ranges are copied again, `second` dies after
    /// `secondAfter` more; then worker 0 pulls every key.
    static func run(seed: UInt64, first: Int, firstAfter: Int, second: Int, secondAfter: Int, rounds: Int = 4) -> Outcome {
        let network = InMemoryNetwork(seed: seed)
        let reports = InMemoryClusterTests.Reports()
        var managerSettings = ManagerSettings(
            bindEndpoint: "mem://manager", servers: 3, workers: 2, keySpace: keySpace, deadlines: deadlines)
        managerSettings.replication = 1
        network.add(ManagerCore(settings: managerSettings, logger: logger) { reports.append($0) }, endpoint: "mem://manager")
        func settings(_ role: NodeRole, _ rank: Int) -> NodeSettings {
            NodeSettings(
                role: role, rank: rank, managerEndpoint: "mem://manager", bindEndpoint: "mem://\(role)-\(rank)",
                tables: [table], deadlines: deadlines)
        }
        for rank in 0..<3 {
            network.add(ServerCore(settings: settings(.server, rank), outcome: NodeOutcome(), logger: logger), endpoint: "mem://server-\(rank)")
        }
        for rank in 0..<2 {
            network.add(WorkerCore(settings: settings(.worker, rank), outcome: NodeOutcome(), logger: logger), endpoint: "mem://worker-\(rank)")
        }
        network.deliverAll(shuffled: true)
        let keys = (0..<keySpace.upperBound).filter { $0 % 5 != 2 }
        let failures = Mutex<[String]>([])
        for rank in 0..<2 {
            network.execute(on: "mem://worker-\(rank)", as: WorkerCore.self) { core in
                for round in 1...rounds {
                    let values = keys.flatMap { key in (0..<3).map { value(rank, key, round, $0) } }
                    core.submit(
                        WorkerCore.Request(kind: .push, table: table, keys: keys, values: values, updater: nil,
                                           iteration: nil, wantClock: false, pull: nil),
                        timestamp: Timestamp(Int64(round)), after: [], consistency: nil)
                    core.whenFinished(Timestamp(Int64(round))) { error in
                        if let error { failures.withLock { $0.append("worker-\(rank) push \(round): \(error)") } }
                    }
                }
            }
        }
        network.deliverAll(shuffled: true, limit: firstAfter)
        network.kill("mem://server-\(first)")
        network.advance(by: .seconds(2), shuffled: true)
        network.deliverAll(shuffled: true, limit: secondAfter)
        network.kill("mem://server-\(second)")
        network.advance(by: .seconds(2), shuffled: true)

        var outcome = Outcome()
        let pull = PendingPull(timestamp: Timestamp(Int64(rounds + 1)))
        network.execute(on: "mem://worker-0", as: WorkerCore.self) { core in
            core.submit(
                WorkerCore.Request(kind: .pull, table: table, keys: keys, values: nil, updater: nil,
                                   iteration: nil, wantClock: false, pull: pull),
                timestamp: Timestamp(Int64(rounds + 1)), after: [], consistency: .sequential)
        }
        network.advance(by: .milliseconds(200), shuffled: true)
        outcome.failures = failures.withLock { $0 }
        switch pull.result {
        case .success(let values)?: outcome.pulled = values.values
        case .failure(let error)?: outcome.failures.append("pull: \(error)")
        case nil: outcome.failures.append("pull: no answer")
        }
        outcome.expected = keys.flatMap { key in
            (0..<3).map { component in
                (0..<2).reduce(Float(0)) { sum, worker in sum + (1...rounds).reduce(Float(0)) { $0 + value(worker, key, $1, component) } }
            }
        }
        var primaries: [KeyRange: [Float]] = [:]
        var replicas: [(KeyRange, String, [Float])] = []
        for rank in 0..<3 where network.isRunning("mem://server-\(rank)") {
            network.execute(on: "mem://server-\(rank)", as: ServerCore.self) { core in
                let held = core.heldRanges(table: table.id)
                for range in held.primaries { primaries[range] = core.storedEntries(table: table.id, range: range, replica: false)?.entries }
                for range in held.replicas {
                    replicas.append((range, "server-\(rank)", core.storedEntries(table: table.id, range: range, replica: true)?.entries ?? []))
                }
            }
        }
        for range in primaries.keys { outcome.holders[range] = 1 }
        for (range, holder, values) in replicas {
            outcome.holders[range, default: 0] += 1
            if primaries[range] != values { outcome.copiesDiffer.append("\(holder)'s replica of \(range)") }
        }
        outcome.reports = reports.withLock { $0 }
        return outcome
    }

    @Test("with replication 1, two of three servers die one after the other and every key is still the exact sum")
    func twoDeathsOneAfterTheOther() {
        var failed: [String] = []
        for seed in 1...150 as ClosedRange<UInt64> {
            var random = SplitMix64(seed: seed &+ 0xABCD)
            let first = Int(random.next() % 3)
            let second = (first + 1 + Int(random.next() % 2)) % 3
            let firstAfter = Int(random.next() % 60)
            let secondAfter = Int(random.next() % 40)
            let outcome = Self.run(seed: seed, first: first, firstAfter: firstAfter, second: second, secondAfter: secondAfter)
            let ranges = Set(outcome.holders.keys)
            let ok = outcome.failures.isEmpty && outcome.pulled == outcome.expected && outcome.copiesDiffer.isEmpty
                && ranges == Set(Self.segments) && outcome.reports.isEmpty
            if !ok {
                failed.append("seed \(seed): server-\(first) after \(firstAfter), server-\(second) after \(secondAfter) more: failures \(outcome.failures), sums \(outcome.pulled == outcome.expected ? "exact" : "WRONG"), holders \(outcome.holders), differing \(outcome.copiesDiffer), reports \(outcome.reports.map { $0.failure ?? "-" })")
            }
        }
        #expect(failed.isEmpty, "\(failed.count) seeds failed; first: \(failed.prefix(3))")
    }

    @Test("after one death every range is on two servers again, and every copy equals its primary")
    func copiesAreRestored() {
        for seed in 1...60 as ClosedRange<UInt64> {
            var random = SplitMix64(seed: seed)
            let first = Int(random.next() % 3)
            // The second "death" is of a server that no longer runs: only the first one counts.
            let outcome = Self.run(seed: seed, first: first, firstAfter: Int(random.next() % 80), second: first, secondAfter: 0)
            #expect(outcome.failures == [], "seed \(seed)")
            #expect(outcome.pulled == outcome.expected, "seed \(seed)")
            #expect(outcome.holders == Dictionary(uniqueKeysWithValues: Self.segments.map { ($0, 2) }), "seed \(seed)")
            #expect(outcome.copiesDiffer == [], "seed \(seed)")
        }
    }
}
