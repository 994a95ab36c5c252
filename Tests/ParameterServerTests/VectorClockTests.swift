import Testing
@testable import ParameterServer

@Suite("VectorClock")
struct VectorClockTests {
    @Test func splitsWhereAnUpdateEndsAndMergesWhenVectorsAgree() {
        var clock = VectorClock(range: KeyRange(0, 100), nodeCount: 2)
        clock.apply(node: 0, range: KeyRange(10, 20), timestamp: Timestamp(1))
        #expect(clock.segments == [
            .init(range: KeyRange(0, 10), clock: [0, 0]),
            .init(range: KeyRange(10, 20), clock: [1, 0]),
            .init(range: KeyRange(20, 100), clock: [0, 0]),
        ])
        clock.apply(node: 1, range: KeyRange(15, 150), timestamp: Timestamp(4))
        #expect(clock.segments == [
            .init(range: KeyRange(0, 10), clock: [0, 0]),
            .init(range: KeyRange(10, 15), clock: [1, 0]),
            .init(range: KeyRange(15, 20), clock: [1, 4]),
            .init(range: KeyRange(20, 100), clock: [0, 4]),
        ])
        #expect(clock.clock(of: KeyRange(0, 100)) == [0, 0])
        #expect(clock.clock(of: KeyRange(12, 18)) == [1, 0])
        #expect(clock.clock(of: KeyRange(15, 20)) == [1, 4])
        #expect(clock.clock(at: 99) == [0, 4])
        #expect(clock.clock(of: KeyRange(100, 200)) == nil)
        #expect(clock.clock(at: 100) == nil)

        clock.apply(node: 0, range: KeyRange(0, 10), timestamp: Timestamp(1))
        clock.apply(node: 0, range: KeyRange(20, 100), timestamp: Timestamp(1))
        clock.apply(node: 1, range: KeyRange(0, 15), timestamp: Timestamp(4))
        #expect(clock.segments == [.init(range: KeyRange(0, 100), clock: [1, 4])])
        // An older timestamp never lowers an entry.
        clock.apply(node: 1, range: KeyRange(30, 40), timestamp: Timestamp(2))
        #expect(clock.segmentCount == 1)
        #expect(clock.clock(at: 35) == [1, 4])
    }

    /// A clock with a few segments and entries of three nodes.
    static func sample() -> VectorClock {
        var clock = VectorClock(range: KeyRange(0, 100), nodeCount: 3)
        clock.apply(node: 0, range: KeyRange(10, 60), timestamp: Timestamp(5))
        clock.apply(node: 2, range: KeyRange(40, 100), timestamp: Timestamp(9))
        clock.apply(node: 0, range: KeyRange(50, 55), timestamp: Timestamp(7))
        return clock
    }

    @Test("records carry a clock's state: applied to an empty clock they rebuild it, over all keys or any stretch")
    func recordsRebuildTheClock() {
        let clock = Self.sample()
        let records = clock.records(in: clock.range, limit: .max)
        #expect(records == [
            ClockRecord(node: 0, range: KeyRange(10, 40), timestamp: Timestamp(5)),
            ClockRecord(node: 0, range: KeyRange(40, 50), timestamp: Timestamp(5)),
            ClockRecord(node: 2, range: KeyRange(40, 50), timestamp: Timestamp(9)),
            ClockRecord(node: 0, range: KeyRange(50, 55), timestamp: Timestamp(7)),
            ClockRecord(node: 2, range: KeyRange(50, 55), timestamp: Timestamp(9)),
            ClockRecord(node: 0, range: KeyRange(55, 60), timestamp: Timestamp(5)),
            ClockRecord(node: 2, range: KeyRange(55, 60), timestamp: Timestamp(9)),
            ClockRecord(node: 2, range: KeyRange(60, 100), timestamp: Timestamp(9)),
        ])
        var copy = VectorClock(range: clock.range, nodeCount: 1)
        copy.apply(records)
        #expect(copy.segments == clock.segments)
        #expect(copy.nodeCount == 3)

        // A stretch: the copy's entries there become the clock's; elsewhere they stay.
        var partial = VectorClock(range: clock.range, nodeCount: 3)
        partial.apply(clock.records(in: KeyRange(45, 58), limit: .max))
        for key in [0, 10, 44, 58, 99] as [UInt64] { #expect(partial.clock(at: key) == [0, 0, 0], "key \(key)") }
        for key in [45, 49, 50, 54, 55, 57] as [UInt64] { #expect(partial.clock(at: key) == clock.clock(at: key), "key \(key)") }
        // Applied again, or after later updates, nothing goes back.
        partial.apply(node: 1, range: KeyRange(0, 100), timestamp: Timestamp(3))
        partial.apply(clock.records(in: KeyRange(45, 58), limit: .max))
        #expect(partial.clock(at: 50) == [7, 3, 9])
    }

    @Test("records beyond the limit describe a coarser clock that never claims more than the clock holds")
    func coarseRecordsClaimNoMore() {
        let clock = Self.sample()
        let coarse = clock.records(in: KeyRange(30, 70), limit: 2)
        // The elementwise minimum over [30, 70): node 0 has 0 at 60..<70, node 2 has 0 at 30..<40.
        #expect(coarse.isEmpty)
        let inner = clock.records(in: KeyRange(41, 59), limit: 2)
        #expect(inner == [
            ClockRecord(node: 0, range: KeyRange(41, 59), timestamp: Timestamp(5)),
            ClockRecord(node: 2, range: KeyRange(41, 59), timestamp: Timestamp(9)),
        ])
        let fewest = clock.records(in: KeyRange(41, 59), limit: 1)
        #expect(fewest == [ClockRecord(node: 0, range: KeyRange(41, 59), timestamp: Timestamp(5))])
        for records in [coarse, inner, fewest] {
            var receiver = VectorClock(range: clock.range, nodeCount: 3)
            receiver.apply(records)
            for key in clock.range.lowerBound..<clock.range.upperBound {
                let held = clock.clock(at: key)!
                let claimed = receiver.clock(at: key)!
                #expect(zip(claimed, held).allSatisfy { $0 <= $1 }, "key \(key): \(claimed) above \(held)")
            }
        }
        #expect(clock.records(in: KeyRange(200, 300), limit: 10).isEmpty)
    }

    @Test("a piece of a clock holds the clock's entries over its keys")
    func pieceKeepsEntries() {
        let clock = Self.sample()
        let piece = clock.piece(KeyRange(45, 80))
        #expect(piece.range == KeyRange(45, 80))
        #expect(piece.segments == [
            .init(range: KeyRange(45, 50), clock: [5, 0, 9]),
            .init(range: KeyRange(50, 55), clock: [7, 0, 9]),
            .init(range: KeyRange(55, 60), clock: [5, 0, 9]),
            .init(range: KeyRange(60, 80), clock: [0, 0, 9]),
        ])
    }

    @Test func wholeRangePushesKeepASingleSegment() {
        let keys = KeyRange(0, 1_000_000)
        var clock = VectorClock(range: keys, nodeCount: 64)
        for round in 1...100 {
            for node in 0..<64 {
                clock.apply(node: node, range: keys, timestamp: Timestamp(Int64(round)))
                #expect(clock.segmentCount == 1)
            }
        }
        #expect(clock.segments == [.init(range: keys, clock: Array(repeating: 100, count: 64))])
    }

    /// 500 random pushes on 2,000 keys from 8 nodes, some reaching past the clock's range: after every
    /// push the segments are exactly the runs of a per-key reference, and range clocks are the
    /// elementwise minimum of the reference's per-key clocks.
    @Test(arguments: 0..<6)
    func randomPushesMatchAPerKeyReference(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        let base: UInt64 = 1_000
        let keyCount = 2_000
        let nodeCount = 8
        var clock = VectorClock(range: KeyRange(base, base + UInt64(keyCount)), nodeCount: nodeCount)
        var reference = Array(repeating: Array(repeating: Int64(0), count: nodeCount), count: keyCount)
        var timestamps = Array(repeating: Int64(0), count: nodeCount)

        for _ in 0..<500 {
            let node = Int.random(in: 0..<nodeCount, using: &random)
            timestamps[node] += Int64.random(in: 1...3, using: &random)
            // Mostly short ranges so segments pile up, now and then a wide one that merges them.
            let length = Int.random(in: 0..<10, using: &random) == 0
                ? Int.random(in: 1...2_400, using: &random) : Int.random(in: 1...60, using: &random)
            let lower = Int.random(in: -100..<keyCount, using: &random)
            let upper = lower + length
            clock.apply(
                node: node, range: KeyRange(UInt64(Int(base) + lower), UInt64(Int(base) + upper)),
                timestamp: Timestamp(timestamps[node]))
            for key in max(0, lower)..<max(0, min(keyCount, upper)) {
                reference[key][node] = max(reference[key][node], timestamps[node])
            }

            var runs: [VectorClock.Segment] = []
            for key in 0..<keyCount {
                let keyStart = base + UInt64(key)
                if let last = runs.last, last.clock == reference[key] {
                    runs[runs.count - 1].range = KeyRange(last.range.lowerBound, keyStart + 1)
                } else {
                    runs.append(.init(range: KeyRange(keyStart, keyStart + 1), clock: reference[key]))
                }
            }
            #expect(clock.segmentCount == runs.count)
            #expect(clock.segments == runs)
        }

        for key in 0..<keyCount {
            #expect(clock.clock(at: base + UInt64(key)) == reference[key])
        }
        for _ in 0..<200 {
            let lower = Int.random(in: 0..<keyCount, using: &random)
            let upper = Int.random(in: (lower + 1)...keyCount, using: &random)
            var minimum = reference[lower]
            for key in lower..<upper { minimum = zip(minimum, reference[key]).map { min($0, $1) } }
            #expect(clock.clock(of: KeyRange(base + UInt64(lower), base + UInt64(upper))) == minimum)
        }
    }

    @Test func elementwiseMinimumCombinesServerClocks() {
        #expect(VectorClock.elementwiseMinimum([3, 1, 7], [2, 5, 7]) == [2, 1, 7])
    }
}
