import Testing
@testable import ParameterServer

@Suite("StalenessTracker")
struct EngineStalenessTests {
    @Test func countsOwnPushesTheClockDoesNotShow() {
        var tracker = StalenessTracker(ownIndex: 1)
        for t: Int64 in [1, 3, 5] { tracker.recordPush(Timestamp(t)) }
        // Values that show own pushes up to 3 (push 5 missing) and another node's only up to 1.
        #expect(tracker.observe(clock: [1, 3], latestOwn: Timestamp(6)) == Staleness(ownPushesMissing: 1, lagBehindSlowestNode: 2))
        // Push 5 was not issued yet at timestamp 4, so it does not count.
        #expect(tracker.observe(clock: [5, 1], latestOwn: Timestamp(4)) == Staleness(ownPushesMissing: 1, lagBehindSlowestNode: 1))
        #expect(tracker.observe(clock: [9, 5], latestOwn: Timestamp(7)) == .zero)
        #expect(tracker.largest == Staleness(ownPushesMissing: 1, lagBehindSlowestNode: 2))
        #expect(tracker.observations == 3)
        tracker.forgetPushes(through: Timestamp(3))
        #expect(tracker.observe(clock: [5, 3], latestOwn: Timestamp(8)) == Staleness(ownPushesMissing: 1, lagBehindSlowestNode: 1))
    }

    /// Three workers train under bounded delay τ against one server through an in-memory network that
    /// delivers in random order and duplicates requests (retries). Each iteration a worker computes
    /// from its newest finished pull, pushes, pulls, and goes on once its pull of τ iterations ago
    /// finished; its table allows 2τ + 1 tasks behind the newest (τ + 1 iterations in flight). The
    /// server puts requests back in order and drops duplicates (``RequestDeduplicator``), records
    /// pushes in a ``VectorClock`` and answers pulls with it. The largest staleness is exactly τ over
    /// the seeds (0 for τ = 0), and every push is applied exactly once.
    @Test(arguments: [0, 1, 2, 4])
    func boundedDelayStalenessNeverExceedsTheDelay(maxDelay: Int) throws {
        var largestSeen = 0
        for seed: UInt64 in 0..<8 {
            let result = try runTraining(maxDelay: maxDelay, seed: seed)
            #expect(result.largestOwnPushesMissing <= maxDelay)
            #expect(result.pushesApplied == result.pushesIssued)
            #expect(result.finalClock == result.lastPushTimestamps)
            largestSeen = max(largestSeen, result.largestOwnPushesMissing)
        }
        #expect(largestSeen == maxDelay)
    }

    private struct TrainingResult {
        var largestOwnPushesMissing: Int
        var pushesIssued: Int
        var pushesApplied: Int
        var finalClock: [Int64]
        var lastPushTimestamps: [Int64]
    }

    private enum Kind { case push, pull }

    private struct Request {
        var worker: Int
        var requestID: UInt64
        var kind: Kind
        var timestamp: Timestamp
    }

    private enum InFlight {
        case request(Request)
        case reply(worker: Int, timestamp: Timestamp, clock: [Int64]?)
    }

    private struct SimulatedWorker {
        var engine: TaskEngine
        var tracker: StalenessTracker
        var kinds: [Timestamp: Kind] = [:]
        var pulls: [Timestamp] = []
        var nextIteration = 0
        var nextRequestID: UInt64 = 1
        var lastPush: Int64 = 0
        var newestPull: (timestamp: Timestamp, clock: [Int64])

        /// Whether the worker may compute its next iteration: its pull of τ iterations ago finished.
        func mayContinue(maxDelay: Int) -> Bool {
            let waitedFor = pulls.count - 1 - maxDelay
            return waitedFor < 0 || engine.isFinished(pulls[waitedFor])
        }
    }

    private func runTraining(maxDelay: Int, seed: UInt64) throws -> TrainingResult {
        var random = SeededGenerator(seed: seed)
        let workerCount = 3
        let iterations = 40
        let keys = KeyRange(0, 10_000)

        var workers = (0..<workerCount).map {
            SimulatedWorker(
                engine: TaskEngine(defaultModel: .boundedDelay(maxDelay: 2 * maxDelay + 1)),
                tracker: StalenessTracker(ownIndex: $0),
                newestPull: (.none, Array(repeating: 0, count: workerCount)))
        }
        var network: [InFlight] = []

        func send(_ w: Int, _ actions: [EngineAction]) {
            for case .start(let t) in actions {
                network.append(.request(Request(
                    worker: w, requestID: workers[w].nextRequestID, kind: workers[w].kinds[t]!, timestamp: t)))
                workers[w].nextRequestID += 1
            }
        }

        var deduplicator = RequestDeduplicator<Request, InFlight>()
        var clock = VectorClock(range: keys, nodeCount: workerCount)
        var pushesApplied = 0
        while true {
            let runnable = (0..<workerCount).filter {
                workers[$0].nextIteration < iterations && workers[$0].mayContinue(maxDelay: maxDelay)
            }
            if !runnable.isEmpty, network.isEmpty || Bool.random(using: &random) {
                // One iteration: compute from the newest finished pull, then push and pull.
                let w = runnable.randomElement(using: &random)!
                _ = workers[w].tracker.observe(clock: workers[w].newestPull.clock, latestOwn: workers[w].engine.lastIssued)
                for kind in [Kind.push, .pull] {
                    let (t, actions) = try workers[w].engine.submit(EngineTask(table: 0))
                    workers[w].kinds[t] = kind
                    if kind == .push {
                        workers[w].tracker.recordPush(t)
                        workers[w].lastPush = t.rawValue
                    } else { workers[w].pulls.append(t) }
                    send(w, actions)
                }
                workers[w].nextIteration += 1
                continue
            }
            guard !network.isEmpty else { break }
            let message = network.remove(at: Int.random(in: 0..<network.count, using: &random))
            switch message {
            case .request(let request):
                if Int.random(in: 0..<8, using: &random) == 0 { network.append(message) }  // a retry
                let sender = NodeID(UInt32(request.worker))
                for directive in deduplicator.receive(sender: sender, requestID: request.requestID, request) {
                    switch directive {
                    case .apply(_, let requestID, let applied):
                        var pulledClock: [Int64]?
                        if applied.kind == .push {
                            clock.apply(node: applied.worker, range: keys, timestamp: applied.timestamp)
                            pushesApplied += 1
                        } else {
                            pulledClock = clock.clock(of: keys)
                        }
                        let reply = InFlight.reply(worker: applied.worker, timestamp: applied.timestamp, clock: pulledClock)
                        deduplicator.recordReply(sender: sender, requestID: requestID, reply: reply)
                        network.append(reply)
                    case .replyAgain(_, _, let reply):
                        network.append(reply)
                    case .buffer, .dropDuplicate:
                        break
                    case .reject(let error):
                        Issue.record("unexpected rejection: \(error)")
                    }
                }
            case .reply(let w, let t, let pulledClock):
                guard !workers[w].engine.isFinished(t) else { continue }  // a second answer to a retry
                if let pulledClock, t > workers[w].newestPull.timestamp {
                    workers[w].newestPull = (t, pulledClock)
                }
                send(w, workers[w].engine.finished(t))
            }
        }
        #expect(workers.allSatisfy { $0.nextIteration == iterations && $0.engine.runningCount == 0 })
        return TrainingResult(
            largestOwnPushesMissing: workers.map(\.tracker.largest.ownPushesMissing).max()!,
            pushesIssued: workerCount * iterations,
            pushesApplied: pushesApplied,
            finalClock: clock.clock(of: keys)!,
            lastPushTimestamps: workers.map(\.lastPush))
    }
}
