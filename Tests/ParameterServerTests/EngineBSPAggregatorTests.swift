import Testing
@testable import ParameterServer

@Suite("BSPAggregator")
struct EngineBSPAggregatorTests {
    typealias Aggregator = BSPAggregator<Int, String>
    let workers: [NodeID] = [NodeID(10), NodeID(11), NodeID(12)]
    let low = KeyRange(0, 100)
    let high = KeyRange(200, 300)

    @Test func pullsAndPushesAreAnsweredOnlyOnceTheIterationIsApplied() {
        var aggregator = Aggregator(workers: Set(workers), segments: [low])
        #expect(aggregator.push(from: workers[0], iteration: 0, segments: [low], 100) == [.accumulate(segment: low, iteration: 0, worker: workers[0])])
        #expect(aggregator.pull(iteration: 0, segments: [low], "pull w0").isEmpty)
        #expect(aggregator.push(from: workers[1], iteration: 0, segments: [low], 101) == [.accumulate(segment: low, iteration: 0, worker: workers[1])])
        #expect(aggregator.pull(iteration: 0, segments: [low], "pull w1").isEmpty)
        #expect(aggregator.heldPullCount == 2 && aggregator.heldPushCount == 2)
        #expect(aggregator.arrivedWorkers(segment: low, iteration: 0) == [workers[0], workers[1]])
        #expect(aggregator.push(from: workers[2], iteration: 0, segments: [low], 102) == [
            .accumulate(segment: low, iteration: 0, worker: workers[2]),
            .applyAggregate(segment: low, iteration: 0),
            .acknowledge(100), .acknowledge(101), .acknowledge(102),
            .servePull("pull w0"), .servePull("pull w1"),
        ])
        #expect(aggregator.nextIteration(of: low) == 1)
        #expect(aggregator.heldPullCount == 0 && aggregator.heldPushCount == 0)
        // A pull of an applied iteration is served at once; one of the next iteration waits; a
        // pull that reads no segment is served at once.
        #expect(aggregator.pull(iteration: 0, segments: [low], "late") == [.servePull("late")])
        #expect(aggregator.pull(iteration: 1, segments: [low], "next").isEmpty)
        #expect(aggregator.pull(iteration: 1, segments: [], "no keys") == [.servePull("no keys")])
    }

    @Test func iterationsAreAppliedInOrder() {
        var aggregator = Aggregator(workers: [workers[0], workers[1]], segments: [low], firstIteration: 5)
        _ = aggregator.push(from: workers[0], iteration: 6, segments: [low], 1)
        #expect(aggregator.push(from: workers[1], iteration: 6, segments: [low], 2) == [.accumulate(segment: low, iteration: 6, worker: workers[1])])
        _ = aggregator.push(from: workers[0], iteration: 5, segments: [low], 3)
        #expect(aggregator.push(from: workers[1], iteration: 5, segments: [low], 4) == [
            .accumulate(segment: low, iteration: 5, worker: workers[1]),
            .applyAggregate(segment: low, iteration: 5),
            .applyAggregate(segment: low, iteration: 6),
            .acknowledge(1), .acknowledge(2), .acknowledge(3), .acknowledge(4),
        ])
        #expect(aggregator.nextIteration(of: low) == 7)
    }

    @Test func badPushesAreRejected() {
        var aggregator = Aggregator(workers: Set(workers), segments: [low])
        _ = aggregator.push(from: workers[0], iteration: 0, segments: [low], 1)
        let cases: [(NodeID, Int64, [KeyRange], BSPError.Code)] = [
            (NodeID(99), 0, [low], .unknownWorker),
            (workers[0], 0, [low], .duplicatePush),
            (workers[1], 0, [high], .unknownSegment),
        ]
        for (worker, iteration, segments, code) in cases {
            let directives = aggregator.push(from: worker, iteration: iteration, segments: segments, 7)
            guard case .rejectPush(let error)? = directives.first, directives.count == 1 else {
                Issue.record("expected a rejection, got \(directives)")
                continue
            }
            #expect(error.code == code)
            #expect(error.wireError.code == .invalidRequest)
        }
        _ = aggregator.push(from: workers[1], iteration: 0, segments: [low], 1)
        _ = aggregator.push(from: workers[2], iteration: 0, segments: [low], 1)
        let closed = aggregator.push(from: workers[2], iteration: 0, segments: [low], 7)
        guard case .rejectPush(let error)? = closed.first else {
            Issue.record("expected a rejection, got \(closed)")
            return
        }
        #expect(error.code == .iterationClosed)
        #expect(error.description == "iterationClosed for iteration 0 from node 12: iteration 0 was already applied; the next open iteration is 1")
    }

    @Test func aWorkerLeavingCompletesTheIteration() {
        var aggregator = Aggregator(workers: Set(workers), segments: [low])
        _ = aggregator.push(from: workers[0], iteration: 0, segments: [low], 1)
        _ = aggregator.push(from: workers[1], iteration: 0, segments: [low], 2)
        _ = aggregator.pull(iteration: 0, segments: [low], "p")
        #expect(aggregator.removeWorker(workers[2]) == [
            .applyAggregate(segment: low, iteration: 0), .acknowledge(1), .acknowledge(2), .servePull("p"),
        ])
        // With no worker left, an iteration nobody pushed is not applied.
        _ = aggregator.removeWorker(workers[0])
        #expect(aggregator.removeWorker(workers[1]).isEmpty)
        #expect(aggregator.nextIteration(of: low) == 1)
    }

    /// Each segment counts its own arrivals: a push counting toward two segments is acknowledged
    /// once both applied its iteration, and a pull waits for every segment it reads.
    @Test func segmentsCompleteIndependently() {
        let pair = [workers[0], workers[1]]
        var aggregator = Aggregator(workers: Set(pair), segments: [low, high])
        #expect(aggregator.wouldWait(worker: pair[0], iteration: 0, segments: [low, high]))
        _ = aggregator.push(from: pair[0], iteration: 0, segments: [low, high], 1)
        // Worker 1's push of iteration 0 completes it; one of iteration 1 waits.
        #expect(!aggregator.wouldWait(worker: pair[1], iteration: 0, segments: [low, high]))
        #expect(aggregator.wouldWait(worker: pair[1], iteration: 1, segments: [low]))
        #expect(aggregator.pull(iteration: 0, segments: [low, high], "both").isEmpty)
        #expect(aggregator.pull(iteration: 0, segments: [low], "low only").isEmpty)
        // Worker 1's push reaches `low` here; its part for `high` comes separately (as after a fail-over).
        #expect(aggregator.push(from: pair[1], iteration: 0, segments: [low], 2) == [
            .accumulate(segment: low, iteration: 0, worker: pair[1]),
            .applyAggregate(segment: low, iteration: 0),
            .acknowledge(2), .servePull("low only"),
        ])
        #expect(aggregator.push(from: pair[1], iteration: 0, segments: [high], 3) == [
            .accumulate(segment: high, iteration: 0, worker: pair[1]),
            .applyAggregate(segment: high, iteration: 0),
            .acknowledge(1), .acknowledge(3), .servePull("both"),
        ])
    }

    /// After a fail-over: a segment promoted from a replica goes on after the iterations its copy
    /// holds, and a push sent again counts once per segment.
    @Test func aResentPushCountsOncePerSegment() {
        let pair = [workers[0], workers[1]]
        var aggregator = Aggregator(workers: Set(pair), segments: [low], firstIteration: 3)
        aggregator.addSegment(high, nextIteration: 3)
        // Already applied in `high`'s copy: acknowledged, nothing added.
        #expect(aggregator.push(from: pair[0], iteration: 2, segments: [high], resent: true, 10) == [.acknowledge(10)])
        // Open: counted.
        #expect(aggregator.push(from: pair[0], iteration: 3, segments: [high], resent: true, 11) == [
            .accumulate(segment: high, iteration: 3, worker: pair[0]),
        ])
        // The same push again (it went to the dead primary and here): counted already, waits.
        #expect(aggregator.push(from: pair[0], iteration: 3, segments: [high], resent: true, 12).isEmpty)
        // A first push that repeats an arrival is a client error.
        guard case .rejectPush(let error)? = aggregator.push(from: pair[0], iteration: 3, segments: [high], 13).first else {
            Issue.record("a duplicate first push was taken")
            return
        }
        #expect(error.code == .duplicatePush)
        #expect(aggregator.push(from: pair[1], iteration: 3, segments: [high], resent: true, 14) == [
            .accumulate(segment: high, iteration: 3, worker: pair[1]),
            .applyAggregate(segment: high, iteration: 3),
            .acknowledge(11), .acknowledge(12), .acknowledge(14),
        ])
        #expect(aggregator.nextIteration(of: high) == 4 && aggregator.nextIteration(of: low) == 3)
        // A push sent again of an applied iteration waits for nothing.
        #expect(!aggregator.wouldWait(worker: pair[0], iteration: 3, segments: [high]))
        #expect(aggregator.segmentRanges == [low, high])
    }

    /// Four simulated workers run six BSP iterations over three segments in a random interleaving:
    /// push, pull, wait for the pull, next iteration. Sums are exact, each segment applies each
    /// aggregate once in order, every push is acknowledged after its aggregate, and every pull
    /// reads segments holding exactly the aggregates up to its iteration.
    @Test(arguments: 0..<20)
    func randomInterleavingsReleasePullsOnlyAfterTheirAggregate(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        let workerIDs = (0..<4).map { NodeID(UInt32(20 + $0)) }
        let segments = [KeyRange(0, 10), KeyRange(10, 20), KeyRange(30, 40)]
        let iterations: Int64 = 6
        func gradient(_ worker: NodeID, _ iteration: Int64) -> Float { Float(worker.rawValue) * 10 + Float(iteration) }
        func expectedSum(_ iteration: Int64) -> Float { workerIDs.reduce(0) { $0 + gradient($1, iteration) } }

        enum Step { case push, pull, waiting, done }
        struct Push: Equatable { var worker: NodeID; var iteration: Int64 }
        var aggregator = BSPAggregator<Push, NodeID>(workers: Set(workerIDs), segments: segments)
        var step = Dictionary(uniqueKeysWithValues: workerIDs.map { ($0, Step.push) })
        var iteration = Dictionary(uniqueKeysWithValues: workerIDs.map { ($0, Int64(0)) })
        var sums: [KeyRange: [Int64: Float]] = [:]
        var table: [KeyRange: Float] = [:]
        var applied: [KeyRange: [Int64]] = [:]
        var acknowledged: [Push] = []

        while step.values.contains(where: { $0 != .done }) {
            let ready = workerIDs.filter { step[$0] == .push || step[$0] == .pull }
            guard let worker = ready.randomElement(using: &random) else {
                Issue.record("every worker waits: the aggregator stalled")
                return
            }
            let directives: [BSPAggregator<Push, NodeID>.Directive]
            if step[worker] == .push {
                let push = Push(worker: worker, iteration: iteration[worker]!)
                directives = aggregator.push(from: worker, iteration: push.iteration, segments: segments, push)
                step[worker] = .pull
            } else {
                directives = aggregator.pull(iteration: iteration[worker]!, segments: segments, worker)
                step[worker] = .waiting
            }
            for directive in directives {
                switch directive {
                case .accumulate(let segment, let i, let from):
                    sums[segment, default: [:]][i, default: 0] += gradient(from, i)
                case .applyAggregate(let segment, let i):
                    #expect(i == Int64(applied[segment, default: []].count))
                    #expect(sums[segment]?[i] == expectedSum(i))
                    table[segment, default: 0] += sums[segment]?.removeValue(forKey: i) ?? 0
                    applied[segment, default: []].append(i)
                case .acknowledge(let push):
                    #expect(segments.allSatisfy { applied[$0]?.contains(push.iteration) == true })
                    acknowledged.append(push)
                case .servePull(let reader):
                    #expect(step[reader] == .waiting)
                    let i = iteration[reader]!
                    #expect(segments.allSatisfy { table[$0] == (0...i).reduce(0) { $0 + expectedSum($1) } })
                    iteration[reader]! += 1
                    step[reader] = iteration[reader]! == iterations ? .done : .push
                case .rejectPush(let error):
                    Issue.record("unexpected rejection: \(error)")
                }
            }
        }
        #expect(segments.allSatisfy { applied[$0] == Array(0..<iterations) })
        #expect(acknowledged.count == workerIDs.count * Int(iterations))
        #expect(aggregator.heldPullCount == 0 && aggregator.heldPushCount == 0)
    }
}
