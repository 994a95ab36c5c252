import Foundation
import Logging
import ZeroMQ

@testable import ParameterServer

/// One seeded run of the real manager, server and worker logic with replication on the
/// in-memory network (docs/FAULT-TOLERANCE.md, "How it is tested"). The seed decides the shape of the
/// cluster, the keys, how the links interleave, which server dies and at which delivery — counted over
/// the whole run, registration and the final pull included — and, for a second kill, which server of
/// another chain dies once the first loss was recovered.
struct FailoverSimulation {
    /// What the seed decides besides the interleaving.
    struct Scenario: Sendable, CustomStringConvertible {
        var seed: UInt64
        var servers = 3
        /// Copies besides the primary: chains of 2 or 3 servers.
        var replication = 1
        /// Tokens per server on the manager's hash ring: each server holds several segments of the
        /// key space, each with its own chain.
        var virtualNodes = 3
        var workers = 1
        var valueLength = 1
        var consistency: ConsistencyModel = .eventual
        var ftrl = false
        /// The longest a message waits before it can be delivered, in fake milliseconds (0: at once).
        var delay = 0
        /// Push rounds per worker before the pull (and again after the first recovery, with a second kill).
        var rounds = 2
        /// The server that dies, and after how many deliveries since the first node started.
        var victim: Int?
        var killAt = 0
        /// With a value, the victim is not killed but paused (SIGSTOP) for this many fake milliseconds,
        /// then resumed: beyond the heartbeat timeout the manager has moved its ranges, and it must stop.
        var pause: Int?
        /// Whether the victim is not killed but asked to stop (SIGTERM): it asks the manager to take
        /// it out of the job (``ServerCore/leaveOrStop()``) and stops once it has.
        var leave = false
        /// A second server that dies after the first loss was recovered, and after how many deliveries
        /// of the pushes that follow.
        var secondVictim: Int?
        var secondKillAt = 0
        /// A second server that dies this many deliveries after the first, recovered or not: with
        /// `replication: 2`, while the chains that lost a middle server are copied to their new
        /// next servers.
        var closeVictim: Int?
        var closeKillAt = 0
        /// Whether, after the first death, the first server to acknowledge a push while it copies a
        /// range to a new next server dies as the worker reads the acknowledgement, losing what it
        /// had not sent (``CopyingPrimaryWatch``).
        var killCopyingPrimary = false
        /// Whether a killed server loses what it sent that was not delivered yet, as a process whose
        /// ZeroMQ I/O thread had not written its queues out.
        var losingUnsent = false
        /// Whether the first server to get a `replicateAck` dies instead of reading it, and then the
        /// server that reports the last copy of the re-protection (`replicaReady`) dies the moment
        /// the manager has the report (``WatchedKills``).
        var killCopySource = false
        /// After how many deliveries since the first node started a new server (rank `servers`)
        /// starts and joins the running job (forced after the first pushes if not reached by then);
        /// a victim then dies `killAt` deliveries after the join began.
        var joinAt: Int?

        var description: String {
            var text = "\(servers) servers (\(virtualNodes) virtual nodes each), replication \(replication), \(workers) worker(s), \(consistency), value length \(valueLength)"
            if ftrl { text += ", ftrl" }
            if delay > 0 { text += ", delays up to \(delay) ms" }
            if let victim {
                text += ", server-\(victim) " + (leave ? "asked to leave" : pause.map { "paused for \($0) ms" } ?? "killed") + " after \(killAt) deliveries"
            }
            if let secondVictim { text += ", then server-\(secondVictim) after \(secondKillAt) more" }
            if let closeVictim { text += ", then server-\(closeVictim) \(closeKillAt) deliveries later" }
            if losingUnsent { text += ", the dead losing what they had not sent" }
            if killCopyingPrimary { text += ", then the first server to acknowledge a push while it copies a range" }
            if let joinAt { text += ", server-\(servers) joins after \(joinAt) deliveries" }
            if killCopySource { text += ", the first primary to get a replicate acknowledged, then the source of the last copy as it reports it" }
            return text
        }

        /// The segments of the ring the manager builds whose whole chain died, adjacent ones merged.
        var predictedLostRanges: [KeyRange] {
            guard let victim, let secondVictim else { return [] }
            let dead: Set<NodeID> = [NodeID(UInt32(1 + victim)), NodeID(UInt32(1 + secondVictim))]
            var lost: [KeyRange] = []
            for chain in initialChains where chain.nodes.allSatisfy(dead.contains) {
                if let last = lost.last, last.upperBound == chain.range.lowerBound {
                    lost[lost.count - 1].upperBound = chain.range.upperBound
                } else {
                    lost.append(chain.range)
                }
            }
            return lost
        }

        /// The plan of the join of server-`servers` to the job as it starts: servers 1…S, then the
        /// workers, as the manager admits them.
        var joinPlan: JoinPlan? {
            var membership = Membership(keySpace: FailoverSimulation.keySpace, virtualNodes: virtualNodes, replication: replication)
            for rank in 0..<servers { _ = try? membership.join(role: .server, rank: UInt32(rank), endpoint: "mem://server-\(rank)") }
            for rank in 0..<workers { _ = try? membership.join(role: .worker, rank: UInt32(rank), endpoint: "mem://worker-\(rank)") }
            membership.holdsData = true
            return try? JoinPlan.make(joiner: UInt32(servers), endpoint: "mem://server-\(servers)", in: membership)
        }

        /// The chains of the manager's first node table: servers 1…S joined the ring in rank order.
        var initialChains: [RangeChain] {
            var membership = Membership(keySpace: FailoverSimulation.keySpace, virtualNodes: virtualNodes, replication: replication)
            for rank in 0..<servers { _ = try? membership.join(role: .server, rank: UInt32(rank), endpoint: "mem://server-\(rank)") }
            return membership.chains
        }
    }

    /// What a run ended with.
    struct Outcome: Sendable {
        var failures: [String] = []
        var acknowledged = 0
        var pushes = 0
        var pulled: [Float]?
        var expected: [Float] = []
        /// The keys pulled, in order (each with `expected.count / pulledKeys.count` values).
        var pulledKeys: [UInt64] = []
        var copiesDiffer: [String] = []
        var rangesWithoutPrimary: [KeyRange] = []
        /// The manager's failure, if the job failed.
        var jobFailure: String?
        /// Deliveries the whole run took.
        var deliveries = 0
        /// Servers killed or paused: a kill drawn after the run's last delivery never happens.
        var victimsHit = 0
        /// Whether the (first) victim still runs at the end.
        var victimRuns = false
        /// Whether the victim left the job (``Scenario/leave``): the manager took it out and it
        /// stopped without a failure.
        var victimLeft = false
        /// Why servers that stopped by themselves stopped, for the report of a failing seed.
        var serverFailures: [String] = []
        /// The ranges the joiner is primary of at the end, `nil` when it does not run then.
        var joinerPrimaries: [KeyRange]?
        /// Why the joiner stopped, when it did.
        var joinerStopped: String?
        /// The manager's lines for the job's summary: recoveries, joins, abandoned joins.
        var recoveries: [String] = []
    }

    static let keySpace = KeyRange(0, 48)
    static let deadlines = Deadlines(
        startup: .seconds(10), request: .seconds(20), barrier: .seconds(10), shutdown: .seconds(2),
        heartbeatInterval: .milliseconds(700), heartbeatTimeout: .seconds(1), job: .seconds(600))
    /// Long enough for the manager to notice a dead server and every node to act on the new table.
    static let recovery: Duration = .milliseconds(1400)
    /// Quiet, unless `ZPS_SIM_LOG` names a level (`ZPS_SIM_LOG=debug` with `ZPS_SIM_SEED` to follow a replay).
    static let logger: Logger = {
        var logger = Logger(label: "zps.test.failover")
        logger.logLevel = ProcessInfo.processInfo.environment["ZPS_SIM_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        return logger
    }()
    /// With `ZPS_SIM_TRACE` set (and `ZPS_SIM_SEED`, `ZPS_SIM_LOG=debug`): every message as it is
    /// delivered, at the fake time, with its header and each key and first value it carries.
    static func trace(from: String, to: String, frames: [Frame]) {
        guard let message = try? MessageCodec.decodeEncoded(frames) else { return print("TRACE \(from) -> \(to): undecodable") }
        let header = message.header
        var entries = ""
        if let keyFrame = message.keys {
            let keys = keyFrame.withUnsafeBytes { Array($0.bindMemory(to: UInt64.self)) }
            let values = message.values.map { frame in frame.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) } } ?? []
            let width = keys.isEmpty ? 1 : max(1, values.count / keys.count)
            entries = " " + keys.enumerated().map { index, key in values.isEmpty ? "\(key)" : "\(key)=\(values[index * width])" }.joined(separator: ",")
        }
        print(
            "TRACE \(from) -> \(to) \(header.kind) s=\(header.sender.rawValue) id=\(header.requestID) ts=\(header.timestamp)"
                + " kr=\(header.keyRange.map(\.description) ?? "-") tv=\(header.tableVersion ?? 0) org=\(header.origins)"
                + (header.errorCode.map { " ec=\($0)" } ?? "") + entries)
    }

    static let ftrlOptions: [String: Double] = ["alpha": 0.3, "beta": 1, "l1": 0.2, "l2": 0.5]

    /// The value worker `worker` pushes to component `component` of `key` in round `round`: small
    /// integers, so that every sum is exact in floats whatever the order; with FTRL, gradients of both
    /// signs and several sizes, so that l1 keeps some weights at 0; in `bsp` iterations with FTRL,
    /// tenths that differ per worker, so that a sum of several workers' gradients is not exact in
    /// floats and its value depends on the order it is added in.
    static func value(ftrl: Bool, bsp: Bool = false, _ worker: Int, _ key: UInt64, _ round: Int, _ component: Int) -> Float {
        if ftrl, bsp {
            return Float(Int((key &* 2_654_435_761 &+ UInt64(round) &* 97 &+ UInt64(component) &+ UInt64(worker) &* 13) % 41) - 20) / 10
        }
        if ftrl { return Float(Int((key &* 2_654_435_761 &+ UInt64(round) &* 97 &+ UInt64(component)) % 41) - 20) / 16 }
        return Float((worker + 1) * 7 + Int(key % 13) + round * 3 + component)
    }

    /// Whether round `round` pushes `key`: every key, but in `bsp` iterations each round leaves
    /// out a third of the key space in blocks of 8 keys, so that some segments get no key in some
    /// iterations and their replicas learn the iteration without a result.
    static func pushes(_ key: UInt64, round: Int, bsp: Bool) -> Bool {
        !bsp || (key / 8 + UInt64(round)) % 3 != 0
    }

    let scenario: Scenario
    let table: TableSpec
    let keys: [UInt64]
    let network: InMemoryNetwork
    let serverNames: [String]
    let workerNames: [String]
    let reports = InMemoryClusterTests.Reports()
    let serverOutcomes: [NodeOutcome]
    /// The endpoint of the server that joins mid-job.
    var joinerName: String { "mem://server-\(scenario.servers)" }
    let joinerOutcome = NodeOutcome()
    /// Marks the join in ``pendingKills``.
    static let joinMarker = -1
    /// Deliveries left before the next kill, and who dies then.
    private var pendingKills: [(victim: Int, after: Int)] = []
    private var killed = 0
    private var resumeAt: ContinuousClock.Instant?
    private var outcome = Outcome()
    /// The kills the nodes' watches made.
    let watchedKills = WatchedKills()
    private var pushedRounds = 0

    init(_ scenario: Scenario) {
        self.scenario = scenario
        table = TableSpec(
            name: "weights", id: 0, valueLength: scenario.valueLength, updater: scenario.ftrl ? "ftrl" : "add",
            updaterOptions: scenario.ftrl ? Self.ftrlOptions : [:], consistency: scenario.consistency)
        var random = SplitMix64(seed: scenario.seed &* 0x9E37_79B9)
        // FTRL runs compare weights with a fault-free run, so they all use the same keys.
        keys = (0..<Self.keySpace.upperBound).filter { key in scenario.ftrl ? key % 4 != 1 : random.next() % 3 != 0 }
        network = InMemoryNetwork(seed: scenario.seed)
        network.maximumDelay = .milliseconds(scenario.delay)
        if ProcessInfo.processInfo.environment["ZPS_SIM_TRACE"] != nil { network.deliveryObserver = Self.trace }
        serverNames = (0..<scenario.servers).map { "mem://server-\($0)" }
        workerNames = (0..<scenario.workers).map { "mem://worker-\($0)" }
        serverOutcomes = serverNames.map { _ in NodeOutcome() }
        if let joinAt = scenario.joinAt { pendingKills.append((Self.joinMarker, joinAt)) }
        if let victim = scenario.victim { pendingKills.append((victim, scenario.killAt)) }
        if let closeVictim = scenario.closeVictim { pendingKills.append((closeVictim, scenario.closeKillAt)) }
    }

    /// Runs the scenario to its end and checks nothing itself: the caller compares the outcome.
    static func run(_ scenario: Scenario) -> Outcome {
        var simulation = FailoverSimulation(scenario)
        return simulation.run()
    }

    private mutating func run() -> Outcome {
        let reports = reports
        var managerSettings = ManagerSettings(
            bindEndpoint: "mem://manager", servers: scenario.servers, workers: scenario.workers, keySpace: Self.keySpace,
            deadlines: Self.deadlines)
        managerSettings.replication = scenario.replication
        managerSettings.virtualNodes = scenario.virtualNodes
        let manager = ManagerCore(settings: managerSettings, logger: Self.logger) { reports.append($0) }
        if scenario.killCopySource {
            network.add(CopySourceWatch(manager: manager, network: network, servers: serverNames, kills: watchedKills), endpoint: "mem://manager")
        } else {
            network.add(manager, endpoint: "mem://manager")
        }
        for (rank, name) in serverNames.enumerated() {
            let server = ServerCore(settings: settings(.server, rank), outcome: serverOutcomes[rank], logger: Self.logger)
            if scenario.killCopySource {
                network.add(PrimaryWatch(server: server, network: network, endpoint: name, rank: rank, kills: watchedKills), endpoint: name)
            } else {
                network.add(server, endpoint: name)
            }
        }
        for (rank, name) in workerNames.enumerated() {
            let worker = WorkerCore(settings: settings(.worker, rank), outcome: NodeOutcome(), logger: Self.logger)
            if scenario.killCopyingPrimary {
                network.add(CopyingPrimaryWatch(worker: worker, network: network, servers: serverNames, kills: watchedKills), endpoint: name)
            } else {
                network.add(worker, endpoint: name)
            }
        }
        deliver()
        awaitTables()
        guard reports.withLock({ $0.allSatisfy { $0.failure == nil } }) else {
            // The job never started (a server killed before it registered): nothing was pushed.
            outcome.jobFailure = reports.withLock { $0.lazy.compactMap(\.failure).first }
            outcome.victimsHit = killed
            recordServers()
            return outcome
        }
        pushRounds()
        deliver()
        if scenario.joinAt != nil, pendingKills.first?.victim == Self.joinMarker {
            // Not reached during the pushes: the server joins now, and more pushes follow.
            pendingKills[0].after = 0
            pushRounds()
            deliver()
        }
        if scenario.killCopySource || scenario.killCopyingPrimary {
            pushRounds()
            deliver()
        }
        // Close kills not reached during the pushes happen now, one after the other.
        while scenario.closeVictim != nil, !pendingKills.isEmpty {
            pendingKills[0].after = 0
            deliver()
        }
        if let second = scenario.secondVictim {
            // The first loss is recovered before the second server dies, under new pushes; a first
            // victim still alive dies now, after the last delivery.
            if killed == 0, !pendingKills.isEmpty {
                pendingKills[0].after = 0
                deliver()
            }
            pendingKills.append((second, scenario.secondKillAt))
            pushRounds()
            deliver()
            // Both die: a second victim still alive dies after the last delivery of these pushes.
            if !pendingKills.isEmpty {
                pendingKills[0].after = 0
                deliver()
            }
        }
        let pull = PendingPull(timestamp: Timestamp(Int64(pushedRounds + 1)))
        if !reports.withLock({ $0.contains { $0.failure != nil } }) {
            executeOnWorker(workerNames[0]) { core in
                core.submit(
                    WorkerCore.Request(kind: .pull, table: table, keys: keys, values: nil, updater: nil,
                                       iteration: nil, wantClock: false, pull: pull),
                    timestamp: Timestamp(Int64(pushedRounds + 1)), after: [], consistency: .sequential)
            }
            deliver()
        }
        outcome.deliveries = network.deliveredCount
        outcome.victimsHit = killed + watchedKills.victims.count
        recordServers()
        outcome.joinerStopped = joinerOutcome.failure ?? joinerOutcome.jobFailure
        outcome.recoveries = manager.recoveries
        outcome.jobFailure = reports.withLock { $0.lazy.compactMap(\.failure).first }
        outcome.pushes = pushedRounds * scenario.workers
        switch pull.result {
        case .success(let values)?: outcome.pulled = values.values
        case .failure(let error)?: outcome.failures.append("pull: \(error)")
        case nil: if outcome.jobFailure == nil { outcome.failures.append("pull: no answer") }
        }
        outcome.expected = expectedSums()
        outcome.pulledKeys = keys
        compareCopies()
        return outcome
    }

    /// How the servers ended: their failures, and whether the victim runs or left the job.
    private mutating func recordServers() {
        outcome.serverFailures = serverOutcomes.enumerated().compactMap { rank, result in result.failure.map { "server-\(rank): \($0)" } }
            + ((joinerOutcome.failure ?? joinerOutcome.jobFailure).map { ["joiner: \($0)"] } ?? [])
        outcome.victimRuns = scenario.victim.map { network.isRunning(serverNames[$0]) } ?? true
        outcome.victimLeft = scenario.victim.map { serverOutcomes[$0].summary != nil && serverOutcomes[$0].failure == nil } ?? false
    }

    private func settings(_ role: NodeRole, _ rank: Int) -> NodeSettings {
        NodeSettings(
            role: role, rank: rank, managerEndpoint: "mem://manager", bindEndpoint: "mem://\(role)-\(rank)",
            tables: [table], deadlines: Self.deadlines)
    }

    /// Delivers until nothing is queued, letting fake time pass in steps while messages wait out
    /// their delays, and kills the pending victim at its delivery (with delays, at the first delivery
    /// at or after it that ends a step); after a kill, goes on until the manager noticed and every
    /// node acted on the new table.
    private mutating func deliver() {
        let step: Duration = scenario.delay > 0 ? .milliseconds(20) : .milliseconds(200)
        let giveUp = network.now + .seconds(30)
        var recoveredBy: ContinuousClock.Instant?
        while true {
            if pendingKills.isEmpty {
                network.deliverAll(shuffled: true)
            } else {
                pendingKills[0].after -= network.deliverAll(shuffled: true, limit: max(0, pendingKills[0].after))
            }
            if let next = pendingKills.first, next.after <= 0, next.victim == Self.joinMarker {
                pendingKills.removeFirst()
                network.add(
                    ServerCore(settings: settings(.server, scenario.servers), outcome: joinerOutcome, logger: Self.logger),
                    endpoint: joinerName)
                recoveredBy = network.now + Self.recovery
                continue
            }
            if let next = pendingKills.first, next.after <= 0 {
                pendingKills.removeFirst()
                recoveredBy = network.now + Self.recovery
                if killed == 0, scenario.leave {
                    network.execute(on: serverNames[next.victim], as: ServerCore.self) { $0.leaveOrStop() }
                } else if killed == 0, let pause = scenario.pause {
                    network.pause(serverNames[next.victim])
                    resumeAt = network.now + .milliseconds(pause)
                    // Back, it hears at its next heartbeat that it was taken out, or finds the manager
                    // silent for too long, and stops; then the manager needs a heartbeat timeout too.
                    recoveredBy = resumeAt! + Self.recovery
                } else {
                    network.kill(serverNames[next.victim], losingUnsent: scenario.losingUnsent)
                }
                killed += 1
                continue
            }
            if let resume = resumeAt, network.now >= resume {
                network.resume(serverNames[scenario.victim!])
                resumeAt = nil
                continue
            }
            while watchedKills.awaited < watchedKills.times.count {
                let at = watchedKills.times[watchedKills.awaited]
                watchedKills.awaited += 1
                recoveredBy = max(recoveredBy ?? at, at + Self.recovery)
            }
            if network.queuedCount == 0, resumeAt == nil, recoveredBy.map({ network.now >= $0 }) ?? true { return }
            guard network.now < giveUp else {
                outcome.failures.append("\(network.queuedCount) messages still queued after 30 s of fake time")
                return
            }
            let before = network.deliveredCount
            network.advance(by: step, step: step, shuffled: true)
            if !pendingKills.isEmpty { pendingKills[0].after -= network.deliveredCount - before }
        }
    }

    /// Lets fake time pass until every running worker holds a node table, as a ``Worker`` waits for
    /// one before its first request, or until the manager gives up on the start (a server killed
    /// before it registered: the topology's servers never all register).
    private mutating func awaitTables() {
        // The manager reports a failed start once the shutdown that follows it is over.
        let giveUp = network.now + Self.deadlines.startup + Self.deadlines.shutdown + .seconds(2)
        while network.now < giveUp, reports.withLock({ $0.allSatisfy { $0.failure == nil } }) {
            // A worker that stopped was told the job failed: the manager's report follows its shutdown.
            var ready = workerNames.allSatisfy(network.isRunning)
            for name in workerNames where ready {
                executeOnWorker(name) { core in ready = ready && !core.slicer.routes.isEmpty }
            }
            if ready { return }
            let before = network.deliveredCount
            network.advance(by: .milliseconds(200), step: .milliseconds(20), shuffled: true)
            if !pendingKills.isEmpty { pendingKills[0].after -= network.deliveredCount - before }
            deliver()
        }
    }

    /// Every worker submits `scenario.rounds` pushes of every key at once; the consistency model
    /// decides how they overlap.
    private mutating func pushRounds() {
        let first = pushedRounds + 1
        pushedRounds += scenario.rounds
        let last = pushedRounds
        let acknowledged = Counter()
        for (rank, name) in workerNames.enumerated() {
            executeOnWorker(name) { [table, keys, scenario] core in
                for round in first...last {
                    let bsp = scenario.consistency == .bsp
                    let keys = keys.filter { Self.pushes($0, round: round, bsp: bsp) }
                    let values = keys.flatMap { key in
                        (0..<scenario.valueLength).map { Self.value(ftrl: scenario.ftrl, bsp: bsp, rank, key, round, $0) }
                    }
                    let timestamp = Timestamp(Int64(round))
                    // In `bsp` iterations, round r is iteration r − 1.
                    core.submit(
                        WorkerCore.Request(kind: .push, table: table, keys: keys, values: values, updater: nil,
                                           iteration: bsp ? Int64(round - 1) : nil, wantClock: false, pull: nil),
                        timestamp: timestamp, after: [], consistency: nil)
                    core.whenFinished(timestamp) { error in
                        if let error { acknowledged.failures.append("worker-\(rank) push \(round): \(error)") }
                        else { acknowledged.count += 1 }
                    }
                }
            }
        }
        acknowledgements.append(acknowledged)
    }

    /// Counts the acknowledgements of pushes, and their failures.
    final class Counter {
        var count = 0
        var failures: [String] = []
    }
    private var acknowledgements: [Counter] = []

    private func expectedSums() -> [Float] {
        guard !scenario.ftrl else { return [] }
        return keys.flatMap { key in
            (0..<scenario.valueLength).map { component in
                (0..<scenario.workers).reduce(Float(0)) { sum, worker in
                    sum + (1...pushedRounds).filter { Self.pushes(key, round: $0, bsp: scenario.consistency == .bsp) }
                        .reduce(Float(0)) { $0 + Self.value(ftrl: false, worker, key, $1, component) }
                }
            }
        }
    }

    /// Every range has one primary among the running servers, and every surviving copy of a range
    /// equals its primary.
    private mutating func compareCopies() {
        for counter in acknowledgements {
            outcome.acknowledged += counter.count
            outcome.failures += counter.failures
        }
        // Whole entries: values and updater state (FTRL's z and n), which a promoted replica goes on from.
        var primaries: [KeyRange: (keys: [UInt64], entries: [Float])] = [:]
        var copies: [(KeyRange, String, (keys: [UInt64], entries: [Float]))] = []
        // And their vector clocks, which a promoted replica answers `clk` from.
        var primaryClocks: [KeyRange: [ClockRecord]] = [:]
        var copyClocks: [(KeyRange, String, [ClockRecord])] = []
        for (rank, endpoint) in (serverNames + [joinerName]).enumerated() where network.isRunning(endpoint) {
            network.execute(on: endpoint) { [table, joinerName] handler, _ in
                let core = ((handler as? PrimaryWatch)?.shell ?? handler as! RoleShell<ServerCore>).machine
                let held = core.heldRanges(table: table.id)
                if endpoint == joinerName { outcome.joinerPrimaries = held.primaries }
                for range in held.primaries {
                    if primaries[range] != nil { outcome.failures.append("two primaries of \(range)") }
                    primaries[range] = core.storedEntries(table: table.id, range: range, replica: false)
                    primaryClocks[range] = core.storedClock(table: table.id, range: range)
                }
                for range in held.replicas {
                    copies.append((range, "server-\(rank)", core.storedEntries(table: table.id, range: range, replica: true) ?? ([], [])))
                    copyClocks.append((range, "server-\(rank)", core.storedClock(table: table.id, range: range) ?? []))
                }
            }
        }
        for (range, holder, copy) in copies where primaries[range].map({ $0.keys != copy.keys || $0.entries != copy.entries }) ?? true {
            outcome.copiesDiffer.append("\(holder)'s replica of \(range)")
        }
        for (range, holder, clock) in copyClocks where primaryClocks[range] != clock {
            outcome.copiesDiffer.append("\(holder)'s clock of \(range): \(clock.count) entries, its primary's \(primaryClocks[range]?.count ?? 0)")
        }
        // The primaries' ranges must tile the key space: what they leave out has no primary.
        var next = Self.keySpace.lowerBound
        for range in primaries.keys.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if range.lowerBound > next { outcome.rangesWithoutPrimary.append(KeyRange(next, range.lowerBound)) }
            next = max(next, range.upperBound)
        }
        if next < Self.keySpace.upperBound { outcome.rangesWithoutPrimary.append(KeyRange(next, Self.keySpace.upperBound)) }
    }
}
