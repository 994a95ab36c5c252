import Foundation
import Testing

@testable import ParameterServer

/// `bsp` iterations under replication on the in-memory network (``FailoverSimulation``): two or
/// three workers push four iterations each, a server dies at any delivery, and the job must end as
/// if nothing had happened — every push acknowledged once, every key the exact sum, every copy equal
/// to its primary, and with FTRL the weights bit for bit those of the iterations applied in order,
/// each iteration's gradients summed in the order of the workers' ranks (docs/FAULT-TOLERANCE.md).
/// The gradients are tenths, whose sums in floats depend on the order they are added in, so that
/// a sum added in another order, or a gradient added twice or lost, shows.
@Suite("BSP fail-over on the in-memory network")
struct FailoverSimulationBSPTests {
    typealias Scenario = FailoverSimulation.Scenario

    /// The deliveries of a fault-free run of each shape (servers/workers/FTRL), so that kills land
    /// anywhere in it.
    static let faultFreeDeliveries: [String: Int] = {
        var counts: [String: Int] = [:]
        for servers in [3, 4] { for workers in [2, 3] { for ftrl in [false, true] {
            let scenario = Scenario(seed: 1, servers: servers, workers: workers, consistency: .bsp, ftrl: ftrl, rounds: 4)
            counts[shape(scenario)] = FailoverSimulation.run(scenario).deliveries
        } } }
        return counts
    }()

    static func shape(_ scenario: Scenario) -> String { "\(scenario.servers)/\(scenario.workers)/\(scenario.ftrl)" }

    /// 3 or 4 servers with `replication: 1`, 2 or 3 workers, four iterations, half of the seeds
    /// with FTRL (value length 1) and half adding integers (value length 1 or 3), half with
    /// messages delayed up to 10–100 ms; one server dies at any delivery, or is paused past the
    /// heartbeat timeout and resumed (a fifth of the seeds).
    static func bspKill(seed: UInt64) -> Scenario {
        var random = SplitMix64(seed: seed ^ 0xB5)
        let ftrl = random.next() % 2 == 0
        var scenario = Scenario(
            seed: seed, servers: 3 + Int(random.next() % 2), workers: 2 + Int(random.next() % 2),
            valueLength: ftrl || random.next() % 2 == 0 ? 1 : 3, consistency: .bsp, ftrl: ftrl, rounds: 4)
        scenario.virtualNodes = FailoverSimulationTests.virtualNodes(seed: seed)
        scenario.delay = random.next() % 2 == 0 ? 0 : 10 + Int(random.next() % 91)
        scenario.victim = Int(random.next() % UInt64(scenario.servers))
        let deliveries = faultFreeDeliveries[shape(scenario)]! * (scenario.delay > 0 ? 3 : 2) / 2
        scenario.killAt = Int(random.next() % UInt64(deliveries + 2))
        if random.next() % 5 == 0 { scenario.pause = 1500 + Int(random.next() % 1000) }
        return scenario
    }

    /// The weights FTRL ends with after `scenario`'s iterations, computed here on one store: per
    /// iteration and key pushed, the workers' gradients added in rank order, then applied once.
    static func expectedFTRLWeights(_ scenario: Scenario, rounds: Int, keys: [UInt64]) throws -> [Float] {
        let updater = try UpdaterRegistry.builtIn.make("ftrl", options: UpdaterOptions(FailoverSimulation.ftrlOptions))
        let store = RangeStore(range: FailoverSimulation.keySpace, valueLength: 1, updater: updater)
        for round in 1...rounds {
            let keys = keys.filter { FailoverSimulation.pushes($0, round: round, bsp: true) }
            let sums = keys.map { key in
                var sum = FailoverSimulation.value(ftrl: true, bsp: true, 0, key, round, 0)
                for worker in 1..<scenario.workers { sum += FailoverSimulation.value(ftrl: true, bsp: true, worker, key, round, 0) }
                return sum
            }
            keys.withUnsafeBytes { keyBytes in
                sums.withUnsafeBytes { store.push(keys: keyBytes.baseAddress!, count: keys.count, values: $0.baseAddress!, updater: updater) }
            }
        }
        var weights = [Float](repeating: 0, count: keys.count)
        keys.withUnsafeBytes { keyBytes in
            weights.withUnsafeMutableBytes { store.pull(keys: keyBytes.baseAddress!, count: keys.count, into: $0.baseAddress!) }
        }
        return weights
    }

    /// What is wrong with a bsp run: ``FailoverSimulationTests/exactProblems(_:)``, and with FTRL
    /// weights that are not bit for bit those of the iterations applied in order.
    static func problems(_ scenario: Scenario, _ outcome: FailoverSimulation.Outcome) -> [String] {
        var problems = FailoverSimulationTests.exactProblems(outcome)
        guard scenario.ftrl, let pulled = outcome.pulled else { return problems }
        do {
            let expected = try expectedFTRLWeights(scenario, rounds: outcome.pushes / scenario.workers, keys: outcome.pulledKeys)
            let differ = zip(pulled, expected).filter { $0.bitPattern != $1.bitPattern }.count
            if differ > 0 || pulled.count != expected.count {
                problems.append("\(differ) of \(expected.count) weights differ from the iterations applied in order")
            }
        } catch {
            problems.append("no reference: \(error)")
        }
        return problems
    }

    @Test("without a failure, bsp iterations under replication sum exactly, FTRL ends on the reference weights, copies equal their primaries")
    func noFailure() async throws {
        for ftrl in [false, true] {
            let scenario = Scenario(seed: 1, workers: 3, consistency: .bsp, ftrl: ftrl, rounds: 4)
            let outcome = FailoverSimulation.run(scenario)
            #expect(Self.problems(scenario, outcome) == [])
            #expect(outcome.acknowledged == 12)
            if ftrl {
                // The reference is not trivial: l1 keeps some weights at 0, not all.
                let weights = try Self.expectedFTRLWeights(scenario, rounds: scenario.rounds, keys: outcome.pulledKeys)
                #expect(weights.contains { $0 != 0 } && weights.contains(0))
            }
        }
    }

    @Test("bsp iterations with a server killed or paused at any delivery: exact sums, FTRL bit for bit, every push acknowledged once")
    func killOneServer() async {
        await FailoverSimulationTests.check("killOneServer", suite: "FailoverSimulationBSPTests", seeds: 1...1200, Self.bspKill, problems: Self.problems)
    }

    /// As ``bspKill(seed:)`` without the pause; once the manager recovered (the dead server's
    /// segments promoted, and copied to new replicas: a copy carries the iterations a segment
    /// applied), a server of another chain dies while four more iterations run.
    static func bspTwoKills(seed: UInt64) -> Scenario {
        var scenario = bspKill(seed: seed)
        var random = SplitMix64(seed: seed ^ 0x2C)
        scenario.pause = nil
        let victim = scenario.victim!
        scenario.secondVictim = (victim + 1 + Int(random.next() % UInt64(scenario.servers - 1))) % scenario.servers
        scenario.secondKillAt = Int(random.next() % UInt64(faultFreeDeliveries[shape(scenario)]! / 2))
        return scenario
    }

    @Test("bsp iterations with a second server killed after the recovery: exact (FTRL bit for bit) when every segment kept a copy, else the job fails naming the lost ranges")
    func killTwoServers() async {
        await FailoverSimulationTests.check("killTwoServers", suite: "FailoverSimulationBSPTests", seeds: 1...500, Self.bspTwoKills) { scenario, outcome in
            FailoverSimulationTests.twoKillProblems(scenario, outcome) { Self.problems(scenario, $0) }
        }
    }

    /// As ``bspKill(seed:)`` without the kill, a third of the seeds with `replication: 0`; a new
    /// server joins at any delivery of the first half of the run (before the job runs, it waits),
    /// and four more iterations follow.
    static func bspJoin(seed: UInt64) -> Scenario {
        var scenario = bspKill(seed: seed)
        var random = SplitMix64(seed: seed ^ 0x10)
        scenario.victim = nil
        scenario.pause = nil
        scenario.joinAt = Int(random.next() % UInt64(faultFreeDeliveries[shape(scenario)]! / 2 + 1))
        if seed % 3 == 0 { scenario.replication = 0 }
        return scenario
    }

    @Test("a server joins a job of bsp iterations: exact sums, FTRL bit for bit, and the joiner heads exactly its planned share")
    func joinOneServer() async {
        await FailoverSimulationTests.check("joinOneServer", suite: "FailoverSimulationBSPTests", seeds: 1...400, Self.bspJoin) { scenario, outcome in
            var problems = Self.problems(scenario, outcome)
            guard let plan = scenario.joinPlan else { return problems + ["no join plan"] }
            let planned = plan.final.filter { $0.primary == plan.joiner }.map(\.range)
            if outcome.joinerPrimaries != planned {
                problems.append("the joiner is primary of \(outcome.joinerPrimaries.map(\.description) ?? "nothing, not running"), planned \(planned)")
            }
            return problems
        }
    }

    /// As ``bspJoin(seed:)`` with `replication: 1`, and a server of the job dies at any delivery
    /// from the join on.
    static func bspJoinAndKill(seed: UInt64) -> Scenario {
        var scenario = bspKill(seed: seed)
        var random = SplitMix64(seed: seed ^ 0x11)
        scenario.pause = nil
        let half = faultFreeDeliveries[shape(scenario)]! / 2 + 1
        scenario.joinAt = Int(random.next() % UInt64(half))
        scenario.killAt = Int(random.next() % UInt64(half))
        return scenario
    }

    @Test("a server joins a job of bsp iterations while another dies: exact sums, FTRL bit for bit, and the joiner runs and heads a share")
    func joinAndKillServer() async {
        await FailoverSimulationTests.check("joinAndKillServer", suite: "FailoverSimulationBSPTests", seeds: 1...300, Self.bspJoinAndKill) { scenario, outcome in
            var problems = Self.problems(scenario, outcome)
            if let reason = outcome.joinerStopped { problems.append("the joiner stopped: \(reason)") }
            if outcome.joinerPrimaries?.isEmpty ?? true {
                problems.append("the joiner is primary of \(outcome.joinerPrimaries == nil ? "nothing, not running" : "no range")")
            }
            return problems
        }
    }
}
