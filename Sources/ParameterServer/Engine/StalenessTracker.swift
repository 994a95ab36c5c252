/// How old the values a worker uses are, counted in the worker's own pushes.
public struct Staleness: Hashable, Sendable, CustomStringConvertible {
    /// The worker's own pushes, issued by the time the values are used, whose effect the values'
    /// clock does not show (timestamp above the worker's own clock entry).
    public var ownPushesMissing: Int
    /// The worker's own pushes, issued by then, above the lowest entry of any node in the clock: how
    /// many iterations the slowest node's visible updates lag behind this worker, when every worker
    /// issues the same sequence of tasks (one push per iteration). Bounded delay limits each worker's
    /// own pipeline, not the spread between workers, so this one has no bound.
    public var lagBehindSlowestNode: Int

    /// Creates a staleness measurement.
    public init(ownPushesMissing: Int, lagBehindSlowestNode: Int) {
        self.ownPushesMissing = ownPushesMissing
        self.lagBehindSlowestNode = lagBehindSlowestNode
    }

    /// No staleness.
    public static let zero = Staleness(ownPushesMissing: 0, lagBehindSlowestNode: 0)

    public var description: String {
        "\(ownPushesMissing) own pushes missing, \(lagBehindSlowestNode) behind the slowest node"
    }
}

/// Worker-side bookkeeping that turns the clock of the values a worker uses into a ``Staleness``, and
/// keeps the largest one seen (one tracker per table the worker pulls with `wantClock`).
///
/// The clock of pulled values is the elementwise minimum over everything the pull read
/// (``VectorClock/clock(of:)`` on each server, combined with ``VectorClock/elementwiseMinimum(_:_:)``
/// across servers); the worker's own entry in it is at index ``ownIndex``. Measure when the values are
/// used (e.g. when an iteration starts computing from the newest finished pull), passing the worker's
/// latest issued timestamp. Since servers apply a worker's requests in issue order, a pull sees every
/// push sent before it; staleness comes from computing with a pull that is older than the latest
/// pushes, which is what bounded delay allows (docs/CONSISTENCY.md).
public struct StalenessTracker: Sendable {
    /// This worker's index in the clock vectors.
    public let ownIndex: Int
    /// The timestamps of this worker's pushes on the table, ascending.
    private var pushes: [Timestamp] = []
    /// The largest values observed so far, each taken on its own.
    public private(set) var largest: Staleness = .zero
    /// The number of measurements taken.
    public private(set) var observations = 0

    /// Creates a tracker for the worker at `ownIndex` in the clock vectors.
    public init(ownIndex: Int) {
        precondition(ownIndex >= 0, "a node index is never negative")
        self.ownIndex = ownIndex
    }

    /// Records a push of this worker; timestamps must be recorded in increasing order.
    public mutating func recordPush(_ timestamp: Timestamp) {
        precondition(pushes.last.map { $0 < timestamp } ?? true, "pushes recorded out of timestamp order")
        pushes.append(timestamp)
    }

    /// Measures values with clock `clock` used when the worker's latest issued timestamp is
    /// `latestOwn`, and updates ``largest``.
    public mutating func observe(clock: [Int64], latestOwn: Timestamp) -> Staleness {
        precondition(ownIndex < clock.count, "clock has \(clock.count) entries, own index is \(ownIndex)")
        let issuedBefore = countOfPushes(below: latestOwn.rawValue + 1)
        let ownSeen = countOfPushes(below: clock[ownIndex] + 1)
        let slowestSeen = countOfPushes(below: (clock.min() ?? 0) + 1)
        let staleness = Staleness(
            ownPushesMissing: max(0, issuedBefore - ownSeen),
            lagBehindSlowestNode: max(0, issuedBefore - slowestSeen))
        largest.ownPushesMissing = max(largest.ownPushesMissing, staleness.ownPushesMissing)
        largest.lagBehindSlowestNode = max(largest.lagBehindSlowestNode, staleness.lagBehindSlowestNode)
        observations += 1
        return staleness
    }

    /// Drops the record of pushes up to `timestamp`, so a long run keeps bounded memory. Call it once
    /// every clock passed in from then on shows them (values from pulls sent after they finished):
    /// ``Staleness/ownPushesMissing`` stays exact, while ``Staleness/lagBehindSlowestNode`` from then
    /// on counts only the pushes still recorded.
    public mutating func forgetPushes(through timestamp: Timestamp) {
        pushes.removeFirst(countOfPushes(below: timestamp.rawValue + 1))
    }

    /// The number of recorded pushes with a timestamp below `bound`.
    private func countOfPushes(below bound: Int64) -> Int {
        var low = 0
        var high = pushes.count
        while low < high {
            let middle = (low + high) / 2
            if pushes[middle].rawValue < bound { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
