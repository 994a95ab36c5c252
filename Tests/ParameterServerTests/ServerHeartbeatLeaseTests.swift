import Logging
import Synchronization
import Testing
import ZeroMQ

@testable import ParameterServer

/// A server whose ranges have replicas serves only while the manager answers its heartbeats in time
/// (docs/FAULT-TOLERANCE.md): one that was paused for longer than the heartbeat timeout, and was
/// replaced meanwhile, stops before it answers anything queued for it from stores that are stale;
/// one whose heartbeats are held on the way stops no later than the manager gives up on it.
@Suite("Server heartbeat lease")
struct ServerHeartbeatLeaseTests {
    static let table = TableSpec(name: "weights", id: 0, valueLength: 1, consistency: .eventual)

    /// Two servers with `replication: 1`, one segment each (server 0 heads the lower half), one
    /// worker; the worker's pull of `keys` of the lower half, and what server 0 sends after it comes
    /// back from a pause past the heartbeat timeout.
    static func pauseThePrimary() -> (pulled: [Float], late: [MessageKind], serverRuns: Bool, failure: String?) {
        let outcome = NodeOutcome()
        let network = ReplicatedPair.start(
            table: table, seed: 3, serverOutcomes: [outcome, NodeOutcome()], logger: ReplicatedPair.logger("zps.test.lease"))

        let keys: [UInt64] = [3, 40, 77]
        var timestamp: Int64 = 0
        func push(_ value: Float) {
            timestamp += 1
            let stamp = Timestamp(timestamp)
            network.execute(on: "mem://worker-0", as: WorkerCore.self) { core in
                core.submit(
                    WorkerCore.Request(kind: .push, table: table, keys: keys, values: keys.map { _ in value }, updater: nil,
                                       iteration: nil, wantClock: false, pull: nil),
                    timestamp: stamp, after: [], consistency: nil)
            }
        }
        push(1)
        network.deliverAll()
        network.advance(by: .milliseconds(100))

        // Server 0 stops running; a pull is queued for it; the manager gives up on it and the
        // worker sends the pull again to server 1, now the range's primary.
        network.pause("mem://server-0")
        timestamp += 1
        let pull = PendingPull(timestamp: Timestamp(timestamp))
        network.execute(on: "mem://worker-0", as: WorkerCore.self) { core in
            core.submit(
                WorkerCore.Request(kind: .pull, table: table, keys: keys, values: nil, updater: nil,
                                   iteration: nil, wantClock: false, pull: pull),
                timestamp: Timestamp(timestamp), after: [], consistency: .sequential)
        }
        network.deliverAll()
        network.advance(by: .milliseconds(1_600))
        push(2)
        network.deliverAll()

        // Server 0 comes back: whatever it sends now is recorded.
        let late = Mutex<[MessageKind]>([])
        network.deliveryObserver = { from, to, frames in
            guard from == "mem://server-0", to != "mem://manager", let message = try? MessageCodec.decodeEncoded(frames) else { return }
            late.withLock { $0.append(message.header.kind) }
        }
        network.resume("mem://server-0")
        network.deliverAll()
        let pulled: [Float]
        switch pull.result {
        case .success(let values)?: pulled = values.values
        default: pulled = []
        }
        return (pulled, late.withLock { $0 }, network.isRunning("mem://server-0"), outcome.failure)
    }

    /// Server 0's heartbeats stop reaching the manager (the link is clogged, not the server
    /// paused), while what the manager sends it arrives in bursts every 200 ms, 100 ms late (a slow link):
    /// whether server 0 still ran at the end of the first 20 ms step in which the manager gave up
    /// on it (nil when the manager never did), whether it runs at the end, and its failure.
    static func clogTheHeartbeats(forever: Bool) -> (declaredWhileRunning: Bool?, serverRuns: Bool, failure: String?) {
        let outcome = NodeOutcome()
        let network = ReplicatedPair.start(
            table: table, seed: 4, serverOutcomes: [outcome, NodeOutcome()], logger: ReplicatedPair.logger("zps.test.lease"))
        network.clog(from: "mem://manager", to: "mem://server-0")
        func step(_ index: Int) {
            // Halfway between heartbeats (every 10 steps), so that answers arrive 100 ms late.
            if index % 10 == 5 {
                network.unclog(from: "mem://manager", to: "mem://server-0")
                network.deliverAll()
                network.clog(from: "mem://manager", to: "mem://server-0")
            }
            network.advance(by: .milliseconds(20))
        }
        for index in 0..<27 { step(index) }
        network.clog(from: "mem://server-0", to: "mem://manager")
        var declaredWhileRunning: Bool?
        for index in 27..<200 {
            if !forever, index == 50 { network.unclog(from: "mem://server-0", to: "mem://manager") }
            step(index)
            var declared = false
            network.execute(on: "mem://manager", as: ManagerCore.self) { core in declared = !core.recoveries.isEmpty }
            if declared, declaredWhileRunning == nil { declaredWhileRunning = network.isRunning("mem://server-0") }
        }
        return (declaredWhileRunning, network.isRunning("mem://server-0"), outcome.failure)
    }

    @Test("heartbeats held on the way past the timeout: the primary stops no later than the manager gives it up")
    func delayedHeartbeatsStopThePrimaryFirst() {
        let result = Self.clogTheHeartbeats(forever: true)
        #expect(result.declaredWhileRunning == false, "declared dead while still running: \(String(describing: result.declaredWhileRunning))")
        #expect(!result.serverRuns)
        #expect(result.failure?.contains("has no answer from the manager to a heartbeat sent in the last 1") == true, "\(result.failure ?? "no failure")")
    }

    @Test("heartbeats held on the way for half the timeout, answers in bursts: the primary keeps its lease and runs on")
    func briefDelayKeepsTheLease() {
        let result = Self.clogTheHeartbeats(forever: false)
        #expect(result.declaredWhileRunning == nil)
        #expect(result.serverRuns)
        #expect(result.failure == nil)
    }

    @Test("with replication 1, a primary back from a pause past the timeout answers nothing queued for it and stops")
    func pausedPrimaryStopsBeforeServing() {
        let result = Self.pauseThePrimary()
        // The pull was answered by server 1 after the fail-over: every key holds the first push.
        #expect(result.pulled == [1, 1, 1])
        #expect(result.late == [], "server 0 sent \(result.late) after its pause")
        #expect(!result.serverRuns)
        #expect(result.failure?.contains("has no answer from the manager to a heartbeat sent in the last 1") == true, "\(result.failure ?? "no failure")")
    }
}
