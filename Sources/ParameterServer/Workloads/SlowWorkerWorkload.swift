/// The slow-worker workload of docs/CONSISTENCY.md: every worker runs the same iterative update on
/// one table, one worker computes `slowdown` times slower, and each worker measures how stale the
/// values it computes with are (from the clocks its pulls return).
///
/// Keys `0..<keyCount` of the table (the topology's key space must be exactly that, so that server
/// ranges end inside it):
/// - **model keys**: worker `w` owns the keys `k` with `k % workers == w` and moves each toward its
///   target, `x += learningRate · (target(w, k) − x)`, computed from the values it last pulled. Owners
///   are disjoint, so a worker that always computes from its latest push (sequential, BSP) follows
///   exactly the trajectory of ``reference(iterations:)``, whatever the other workers do;
/// - **counter keys**: the first and last key of every server range. Every worker adds 1 to each of
///   them every iteration, so each push spans the whole of every server's range (the vector clocks
///   stay one segment, and a pull's clock shows every worker's progress), and under BSP the counters
///   read in iteration `i` are exactly `workers · (i + 1)`.
///
/// An iteration computes from the newest finished pull (simulated compute: a sleep), pushes, and
/// pulls with ``MessageFlags/wantClock``; then it waits until the pull of ``staleness`` iterations
/// ago has finished (never, when `nil`). A `bsp` table tags tasks with their iteration.
public struct SlowWorkerWorkload: Sendable {
    /// Keys of the table the workload uses, `0..<keyCount`.
    public var keyCount: Int
    /// Iterations per worker.
    public var iterations: Int
    /// Simulated compute per iteration of a normal worker.
    public var compute: Duration
    /// How many times longer the slow worker computes.
    public var slowdown: Int
    /// The rank of the slow worker.
    public var slowRank: Int
    /// How many iterations old the values a worker computes with may be; `nil`: any (never wait).
    public var staleness: Int?
    /// The step toward the targets.
    public var learningRate: Float

    /// Describes a run.
    public init(
        keyCount: Int, iterations: Int, compute: Duration, slowdown: Int = 5, slowRank: Int = 0,
        staleness: Int?, learningRate: Float = 0.5
    ) {
        self.keyCount = keyCount
        self.iterations = iterations
        self.compute = compute
        self.slowdown = slowdown
        self.slowRank = slowRank
        self.staleness = staleness
        self.learningRate = learningRate
    }

    /// What one worker observed.
    public struct Report: Sendable {
        /// The worker's rank.
        public var rank: Int
        /// From the first iteration to the last pull's arrival.
        public var elapsed: Duration
        /// The largest staleness measured, each part on its own.
        public var largest: Staleness
        /// How often each number of own pushes was missing from the values computed with.
        public var ownPushesMissing: [Int: Int]
        /// How often each lag behind the slowest worker was seen.
        public var lagBehindSlowest: [Int: Int]
        /// Under BSP: whether every pull of iteration `i` read counters of exactly `workers · (i + 1)`.
        public var countersMatchedIterations: Bool
    }

    /// The value worker `worker` moves model key `key` toward.
    public static func target(worker: Int, key: Int) -> Float { Float((worker * 7 + key * 3) % 16) }

    /// The counter keys: the first and last key of every server range inside `0..<keyCount`.
    public func counterKeys(serverRanges: [KeyRange]) -> [UInt64] {
        let limit = UInt64(keyCount)
        var keys = Set<UInt64>()
        for range in serverRanges where range.lowerBound < limit && !range.isEmpty {
            keys.insert(range.lowerBound)
            keys.insert(min(range.upperBound, limit) - 1)
        }
        return keys.sorted()
    }

    /// The final table of a run where every worker always computes from its own latest push
    /// (sequential or BSP): `keyCount` values, given the counter keys and the number of workers.
    public func reference(workers: Int, counters: [UInt64]) -> [Float] {
        var table = [Float](repeating: 0, count: keyCount)
        let counterSet = Set(counters)
        for key in 0..<keyCount {
            if counterSet.contains(UInt64(key)) {
                table[key] = Float(workers * iterations)
                continue
            }
            let owner = key % workers
            var x: Float = 0
            for _ in 0..<iterations { x += learningRate * (Self.target(worker: owner, key: key) - x) }
            table[key] = x
        }
        return table
    }

    /// Runs the workload on table `table` as the worker of rank `rank`; every worker of the job runs
    /// it with the same settings.
    public func run(on worker: Worker, table: TableSpec, rank: Int) async throws -> Report {
        let nodes = try await worker.waitUntilRegistered()
        let workerIDs = nodes.nodes(withRole: .worker).map(\.id).sorted()
        guard let me = nodes.nodes(withRole: .worker).first(where: { $0.rank == UInt32(rank) }),
            let ownIndex = workerIDs.firstIndex(of: me.id)
        else {
            throw RequestError(code: .invalidRequest, peer: worker.settings.name, message: "rank \(rank) is not in the node table")
        }
        let workerCount = workerIDs.count
        let counters = counterKeys(serverRanges: nodes.nodes(withRole: .server).flatMap(\.ranges))
        let counterSet = Set(counters)
        let allKeys = (0..<UInt64(keyCount)).map { $0 }
        let pushed = allKeys.filter { counterSet.contains($0) || Int($0) % workerCount == rank }
        let isBSP = table.consistency == .bsp
        let computeTime = rank == slowRank ? compute * slowdown : compute

        var tracker = StalenessTracker(ownIndex: ownIndex)
        var ownMissing: [Int: Int] = [:]
        var lag: [Int: Int] = [:]
        var countersMatched = true
        // The first read is served at once, also on a bsp table (no iteration): nothing is applied yet.
        let first = try worker.submitPull(
            table: table.id, keys: allKeys, consistency: isBSP ? .eventual : nil, wantClock: true)
        var current = try await first.values()
        /// Pulls not yet used, by the iteration that issued them.
        var pulls: [(iteration: Int, pull: PendingPull)] = []
        let clock = ContinuousClock()
        let start = clock.now
        for iteration in 0..<iterations {
            if let newest = pulls.lastIndex(where: \.pull.isFinished) {
                current = try pulls[newest].pull.result!.get()
                pulls.removeFirst(newest + 1)
            }
            if let full = current.clock {
                let workerClock = workerIDs.map { Int($0.rawValue) < full.count ? full[Int($0.rawValue)] : 0 }
                let staleness = tracker.observe(clock: workerClock, latestOwn: worker.latestTimestamp)
                ownMissing[staleness.ownPushesMissing, default: 0] += 1
                lag[staleness.lagBehindSlowestNode, default: 0] += 1
            }
            try await Task.sleep(for: computeTime)
            let values = current.values
            let deltas = pushed.map { key -> Float in
                if counterSet.contains(key) { return 1 }
                return learningRate * (Self.target(worker: rank, key: Int(key)) - values[Int(key)])
            }
            let tag = isBSP ? Int64(iteration) : nil
            tracker.recordPush(try await worker.push(table: table.id, keys: pushed, values: deltas, iteration: tag))
            pulls.append((iteration, try worker.submitPull(table: table.id, keys: allKeys, iteration: tag, wantClock: true)))
            if let staleness, let awaited = pulls.first(where: { $0.iteration == iteration - staleness }) {
                let read = try await awaited.pull.values()
                if isBSP, staleness == 0 {
                    countersMatched = countersMatched
                        && counters.allSatisfy { read.values[Int($0)] == Float(workerCount * (iteration + 1)) }
                }
            }
        }
        if let last = pulls.last { _ = try await last.pull.values() }
        return Report(
            rank: rank, elapsed: clock.now - start, largest: tracker.largest, ownPushesMissing: ownMissing,
            lagBehindSlowest: lag, countersMatchedIterations: countersMatched)
    }
}
