import Testing
@testable import ParameterServer

@Suite("BSPAggregator")
struct EngineBSPAggregatorTests {
    typealias Aggregator = BSPAggregator<Int, String>
    let workers: [NodeID] = [NodeID(10), NodeID(11), NodeID(12)]

    @Test func pullsAreReleasedOnlyAfterEveryPushArrived() {
        var aggregator = Aggregator(workers: Set(workers))
        #expect(aggregator.push(from: workers[0], iteration: 0, 100) == [.accumulate(iteration: 0, worker: workers[0], 100)])
        #expect(aggregator.pull(from: workers[0], iteration: 0, "pull w0").isEmpty)
        #expect(aggregator.push(from: workers[1], iteration: 0, 101) == [.accumulate(iteration: 0, worker: workers[1], 101)])
        #expect(aggregator.pull(from: workers[1], iteration: 0, "pull w1").isEmpty)
        #expect(aggregator.heldPullCount == 2)
        #expect(aggregator.arrivedWorkers(iteration: 0) == [workers[0], workers[1]])
        #expect(aggregator.push(from: workers[2], iteration: 0, 102) == [
            .accumulate(iteration: 0, worker: workers[2], 102),
            .applyAggregate(iteration: 0),
            .servePull(iteration: 0, "pull w0"),
            .servePull(iteration: 0, "pull w1"),
        ])
        #expect(aggregator.nextIteration == 1)
        // A pull of an applied iteration is served at once; one of the next iteration waits.
        #expect(aggregator.pull(from: workers[2], iteration: 0, "late") == [.servePull(iteration: 0, "late")])
        #expect(aggregator.pull(from: workers[2], iteration: 1, "next").isEmpty)
    }

    @Test func iterationsAreAppliedInOrder() {
        var aggregator = Aggregator(workers: [workers[0], workers[1]], firstIteration: 5)
        _ = aggregator.push(from: workers[0], iteration: 6, 1)
        #expect(aggregator.push(from: workers[1], iteration: 6, 2) == [.accumulate(iteration: 6, worker: workers[1], 2)])
        _ = aggregator.push(from: workers[0], iteration: 5, 3)
        #expect(aggregator.push(from: workers[1], iteration: 5, 4) == [
            .accumulate(iteration: 5, worker: workers[1], 4),
            .applyAggregate(iteration: 5),
            .applyAggregate(iteration: 6),
        ])
        #expect(aggregator.nextIteration == 7)
    }

    @Test func badPushesAreRejected() {
        var aggregator = Aggregator(workers: Set(workers))
        _ = aggregator.push(from: workers[0], iteration: 0, 1)
        let cases: [(NodeID, Int64, BSPError.Code)] = [
            (NodeID(99), 0, .unknownWorker),
            (workers[0], 0, .duplicatePush),
        ]
        for (worker, iteration, code) in cases {
            let directives = aggregator.push(from: worker, iteration: iteration, 7)
            guard case .rejectPush(7, let error) = directives.first, directives.count == 1 else {
                Issue.record("expected a rejection, got \(directives)")
                continue
            }
            #expect(error.code == code)
            #expect(error.wireError.code == .invalidRequest)
        }
        _ = aggregator.push(from: workers[1], iteration: 0, 1)
        _ = aggregator.push(from: workers[2], iteration: 0, 1)
        let closed = aggregator.push(from: workers[2], iteration: 0, 7)
        guard case .rejectPush(7, let error) = closed.first else {
            Issue.record("expected a rejection, got \(closed)")
            return
        }
        #expect(error.code == .iterationClosed)
        #expect(error.description == "iterationClosed for iteration 0 from node 12: iteration 0 was already applied; the next open iteration is 1")
    }

    @Test func aWorkerLeavingCompletesTheIteration() {
        var aggregator = Aggregator(workers: Set(workers))
        _ = aggregator.push(from: workers[0], iteration: 0, 1)
        _ = aggregator.push(from: workers[1], iteration: 0, 2)
        _ = aggregator.pull(from: workers[0], iteration: 0, "p")
        #expect(aggregator.removeWorker(workers[2]) == [.applyAggregate(iteration: 0), .servePull(iteration: 0, "p")])
        // With no worker left, an iteration nobody pushed is not applied.
        _ = aggregator.removeWorker(workers[0])
        #expect(aggregator.removeWorker(workers[1]).isEmpty)
        #expect(aggregator.nextIteration == 1)
    }

    /// Four simulated workers run six BSP iterations in a random interleaving: push, pull, wait for
    /// the pull, next iteration. Sums are exact, aggregates apply once each in order, and every pull
    /// reads a table holding exactly the aggregates up to its iteration.
    @Test(arguments: 0..<20)
    func randomInterleavingsReleasePullsOnlyAfterTheirAggregate(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        let workerIDs = (0..<4).map { NodeID(UInt32(20 + $0)) }
        let iterations: Int64 = 6
        func gradient(_ worker: NodeID, _ iteration: Int64) -> Float { Float(worker.rawValue) * 10 + Float(iteration) }
        func expectedSum(_ iteration: Int64) -> Float { workerIDs.reduce(0) { $0 + gradient($1, iteration) } }

        enum Step { case push, pull, waiting, done }
        var aggregator = BSPAggregator<Float, NodeID>(workers: Set(workerIDs))
        var step = Dictionary(uniqueKeysWithValues: workerIDs.map { ($0, Step.push) })
        var iteration = Dictionary(uniqueKeysWithValues: workerIDs.map { ($0, Int64(0)) })
        var sums: [Int64: Float] = [:]
        var table: Float = 0
        var applied: [Int64] = []

        while step.values.contains(where: { $0 != .done }) {
            let ready = workerIDs.filter { step[$0] == .push || step[$0] == .pull }
            guard let worker = ready.randomElement(using: &random) else {
                Issue.record("every worker waits: the aggregator stalled")
                return
            }
            let directives: [BSPAggregator<Float, NodeID>.Directive]
            if step[worker] == .push {
                directives = aggregator.push(from: worker, iteration: iteration[worker]!, gradient(worker, iteration[worker]!))
                step[worker] = .pull
            } else {
                directives = aggregator.pull(from: worker, iteration: iteration[worker]!, worker)
                step[worker] = .waiting
            }
            for directive in directives {
                switch directive {
                case .accumulate(let i, let from, let value):
                    #expect(value == gradient(from, i))
                    sums[i, default: 0] += value
                case .applyAggregate(let i):
                    #expect(i == Int64(applied.count))
                    #expect(sums[i] == expectedSum(i))
                    table += sums.removeValue(forKey: i) ?? 0
                    applied.append(i)
                case .servePull(let i, let reader):
                    #expect(i == iteration[reader]! && step[reader] == .waiting)
                    #expect(table == (0...i).reduce(0) { $0 + expectedSum($1) })
                    iteration[reader]! += 1
                    step[reader] = iteration[reader]! == iterations ? .done : .push
                case .rejectPush(_, let error):
                    Issue.record("unexpected rejection: \(error)")
                }
            }
        }
        #expect(applied == Array(0..<iterations))
        #expect(aggregator.heldPullCount == 0)
    }
}
