import Testing
import ZeroMQ
@testable import ParameterServer

/// The pieces the roles add around the engine: BSP sums, growing clocks, the iteration header field,
/// pending pulls, and the slow-worker workload's reference.
@Suite("Consistency parts")
struct ConsistencyPartsTests {
    @Test func iterationSumMergesSortedPushes() {
        var sum = IterationSum(valueLength: 2)
        sum.add(keys: [3, 7, 9], values: [1, 2, 3, 4, 5, 6])
        sum.add(keys: [1, 7, 12], values: [10, 20, 30, 40, 50, 60])
        sum.add(keys: [], values: [])
        sum.add(keys: [9], values: [0.5, 0.25])
        #expect(sum.keys == [1, 3, 7, 9, 12])
        #expect(sum.values == [10, 20, 1, 2, 33, 44, 5.5, 6.25, 50, 60])
    }

    @Test func iterationSumEqualsAPerKeyReference() {
        var generator = SplitMix64(seed: 17)
        var sum = IterationSum(valueLength: 1)
        var reference: [UInt64: Float] = [:]
        for _ in 0..<50 {
            let keys = Set((0..<Int(generator.next() % 40)).map { _ in generator.next() % 200 }).sorted()
            // Small integers add exactly in any order.
            let values = keys.map { Float($0 % 13) }
            sum.add(keys: keys, values: values)
            for (key, value) in zip(keys, values) { reference[key, default: 0] += value }
        }
        #expect(sum.keys == reference.keys.sorted())
        #expect(sum.values == reference.keys.sorted().map { reference[$0]! })
    }

    @Test func aClockWidensForANodeThatJoinedLater() {
        var clock = VectorClock(range: KeyRange(0, 100), nodeCount: 2)
        clock.apply(node: 1, range: KeyRange(0, 50), timestamp: Timestamp(3))
        clock.extend(toNodeCount: 4)
        #expect(clock.nodeCount == 4)
        #expect(clock.segments == [
            .init(range: KeyRange(0, 50), clock: [0, 3, 0, 0]),
            .init(range: KeyRange(50, 100), clock: [0, 0, 0, 0]),
        ])
        clock.apply(node: 3, range: KeyRange(0, 100), timestamp: Timestamp(9))
        #expect(clock.clock(of: KeyRange(0, 100)) == [0, 0, 0, 9])
        clock.extend(toNodeCount: 2)
        #expect(clock.nodeCount == 4)
    }

    @Test func theIterationFieldRoundTrips() throws {
        var header = Header(kind: .push, sender: NodeID(5), requestID: 9, table: 2, timestamp: 41, keyCount: 1, valueLength: 1)
        header.iteration = 7
        let decoded = try HeaderCodec.decode(HeaderCodec.encode(header))
        #expect(decoded.iteration == 7)
        #expect(decoded == header)
        header.iteration = nil
        #expect(try HeaderCodec.decode(HeaderCodec.encode(header)).iteration == nil)
        // A negative iteration is carried as it is; the aggregator decides what it means.
        header.iteration = -1
        #expect(try HeaderCodec.decode(HeaderCodec.encode(header)).iteration == -1)
    }

    @Test func aBSPPushWithNoKeysIsAValidMessage() throws {
        // Every worker sends every server one push per iteration, also when it has no keys there.
        var header = Header(kind: .push, sender: NodeID(4), requestID: 3, table: 0, timestamp: 9, keyCount: 0, valueLength: 2)
        header.iteration = 5
        let frames = MessageCodec.encode(Message(header: header, keys: Frame(array: [UInt64]()), values: Frame(array: [Float]())))
        let decoded = try MessageCodec.decode(frames)
        #expect(decoded.keyCount == 0)
        #expect(decoded.valueCount == 0)
        #expect(decoded.header.iteration == 5)
    }

    @Test func aPendingPullResumesEveryWaiterOnce() async throws {
        let pull = PendingPull(timestamp: Timestamp(4))
        #expect(!pull.isFinished)
        async let first = pull.values()
        async let second = pull.values()
        pull.finish(.success(PulledValues(values: [1, 2], clock: [0, 3], timestamp: Timestamp(4))))
        pull.finish(.success(PulledValues(values: [9], clock: nil, timestamp: Timestamp(4))))
        #expect(try await first.values == [1, 2])
        #expect(try await second.clock == [0, 3])
        #expect(try await pull.values().values == [1, 2])
        #expect(pull.isFinished)
    }

    @Test(arguments: [1, 2, 5])
    func aPendingPullResumesWaitersThatRegisteredBeforeItFinished(waiters: Int) async throws {
        let pull = PendingPull(timestamp: Timestamp(9))
        try await withThrowingTaskGroup(of: PulledValues.self) { group in
            for _ in 0..<waiters { group.addTask { try await pull.values() } }
            // Gives the waiters time to register (one, then several), so that finishing resumes them.
            try await Task.sleep(for: .milliseconds(50))
            pull.finish(.failure(RequestError(code: .timeout, peer: "server-0", message: "late")))
            pull.finish(.success(PulledValues(values: [1], clock: nil, timestamp: Timestamp(9))))
            var failures = 0
            while let outcome = await group.nextResult() {
                if case .failure(let error as RequestError) = outcome, error.code == .timeout { failures += 1 }
            }
            #expect(failures == waiters)
        }
        await #expect(throws: RequestError.self) { try await pull.values() }
    }

    @Test func theWorkloadReferenceFollowsEachOwnersSteps() {
        let workload = SlowWorkerWorkload(keyCount: 10, iterations: 3, compute: .zero, staleness: 0, learningRate: 0.5)
        let counters = workload.counterKeys(serverRanges: [KeyRange(0, 5), KeyRange(5, 10)])
        #expect(counters == [0, 4, 5, 9])
        let reference = workload.reference(workers: 2, counters: counters)
        #expect(reference[0] == 6)
        // Key 1 belongs to worker 1, target (7 + 3) % 16 = 10: 5, 7.5, 8.75.
        #expect(reference[1] == 8.75)
        // Key 2 belongs to worker 0, target 6: 3, 4.5, 5.25.
        #expect(reference[2] == 5.25)
    }


}
