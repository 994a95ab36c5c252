/// Server-side synchronous aggregation of one table: bulk synchronous parallel (BSP) iterations,
/// counted per segment (a key range the server heads, with its own replica chain).
///
/// Each iteration, every worker sends the server one push (possibly without keys) naming the
/// segments it counts toward: those its node table gave the server. The shell adds the push's keys
/// of each segment into that segment's sum for the iteration
/// (``Directive/accumulate(segment:iteration:worker:)``); once every worker's push of the iteration
/// arrived for a segment, the segment's sum is applied to it once
/// (``Directive/applyAggregate(segment:iteration:)``), iterations strictly in order per segment. A
/// push is acknowledged (``Directive/acknowledge(_:)``) once every segment it counts toward has
/// applied its iteration, so an acknowledged push is in the stores, never only in a sum that a
/// failure could lose. A pull of iteration `i` is answered (``Directive/servePull(_:)``) once every
/// segment it reads has applied `i`: it reads the aggregates of iterations up to `i` and no part of
/// `i + 1`.
///
/// Counting per segment is what lets a fail-over keep BSP exact (docs/FAULT-TOLERANCE.md): a
/// segment promoted from a replica starts after the last iteration its copy holds
/// (``addSegment(_:nextIteration:)``); the workers send their unacknowledged pushes again, each to
/// the segments' new primaries (``push(from:iteration:segments:resent:_:)`` with `resent`), and
/// each segment counts a worker's push once: where it has applied the iteration already, or holds
/// the worker's push of it, a push sent again adds nothing.
///
/// A pure state machine, generic over what the shell calls a push (what it acknowledges) and a pull.
public struct BSPAggregator<Push: Sendable, Pull: Sendable>: Sendable {
    /// What the shell does next.
    public enum Directive: Sendable {
        /// Add the keys of `segment` of the push just given into that segment's sum for `iteration`.
        case accumulate(segment: KeyRange, iteration: Int64, worker: NodeID)
        /// Every worker's push of `iteration` arrived for `segment`: apply the segment's sum to it.
        case applyAggregate(segment: KeyRange, iteration: Int64)
        /// Every segment the push counts toward has applied its iteration: acknowledge it.
        case acknowledge(Push)
        /// Answer the pull now: every segment it reads holds the aggregates up to its iteration.
        case servePull(Pull)
        /// The push just given cannot be taken; answer it with ``BSPError/wireError``.
        case rejectPush(BSPError)
    }

    private struct Segment: Sendable {
        var next: Int64
        var arrived: [Int64: Set<NodeID>] = [:]
    }

    private struct Waiting<Item: Sendable>: Sendable {
        var item: Item
        var iteration: Int64
        var segments: Set<KeyRange>
    }

    /// The workers whose pushes complete an iteration.
    public private(set) var workers: Set<NodeID>
    private var segments: [KeyRange: Segment]
    private var pushes: [Waiting<Push>] = []
    private var pulls: [Waiting<Pull>] = []

    /// Creates an aggregator waiting for `workers` in each of `segments`, starting at `firstIteration`.
    public init(workers: Set<NodeID>, segments: [KeyRange], firstIteration: Int64 = 0) {
        self.workers = workers
        self.segments = Dictionary(segments.map { ($0, Segment(next: firstIteration)) }, uniquingKeysWith: { first, _ in first })
    }

    /// The segments counted here.
    public var segmentRanges: [KeyRange] { segments.keys.sorted { $0.lowerBound < $1.lowerBound } }

    /// The oldest iteration of `segment` whose aggregate has not been applied, `nil` for a segment
    /// not counted here.
    public func nextIteration(of segment: KeyRange) -> Int64? { segments[segment]?.next }

    /// The workers whose push of `iteration` has arrived for `segment`.
    public func arrivedWorkers(segment: KeyRange, iteration: Int64) -> Set<NodeID> {
        guard let state = segments[segment] else { return [] }
        return iteration < state.next ? workers : state.arrived[iteration] ?? []
    }

    /// The number of pulls waiting for an aggregate.
    public var heldPullCount: Int { pulls.count }

    /// The number of pushes waiting for their iteration to be applied.
    public var heldPushCount: Int { pushes.count }

    /// Whether a push of `worker` for `iteration` counting toward `pushSegments` would wait:
    /// false when each of them has applied the iteration already, or would apply it with this
    /// push (every other worker's push of it is there), so that it is acknowledged at once.
    public func wouldWait(worker: NodeID, iteration: Int64, segments pushSegments: [KeyRange]) -> Bool {
        pushSegments.contains { segment in
            guard let state = segments[segment] else { return false }
            if iteration < state.next { return false }
            let others = state.arrived[iteration] ?? []
            return iteration > state.next || !others.union([worker]).isSuperset(of: workers)
        }
    }

    /// A worker's push of `iteration` counting toward `pushSegments` (each counted here) arrived.
    /// A push sent again after a fail-over (`resent`) adds nothing to a segment that applied its
    /// iteration already or holds the worker's push of it; a first push there is refused.
    public mutating func push(
        from worker: NodeID, iteration: Int64, segments pushSegments: [KeyRange], resent: Bool = false, _ push: Push
    ) -> [Directive] {
        guard workers.contains(worker) else {
            return [.rejectPush(BSPError(
                .unknownWorker, worker: worker, iteration: iteration,
                "\(worker) is not one of the \(workers.count) workers this table aggregates"))]
        }
        if let unknown = pushSegments.first(where: { segments[$0] == nil }) {
            return [.rejectPush(BSPError(
                .unknownSegment, worker: worker, iteration: iteration, "this server does not head the segment \(unknown)"))]
        }
        if !resent {
            for segment in pushSegments {
                let state = segments[segment]!
                if iteration < state.next {
                    return [.rejectPush(BSPError(
                        .iterationClosed, worker: worker, iteration: iteration,
                        "iteration \(iteration) was already applied; the next open iteration is \(state.next)"))]
                }
                if state.arrived[iteration]?.contains(worker) == true {
                    return [.rejectPush(BSPError(
                        .duplicatePush, worker: worker, iteration: iteration,
                        "\(worker) already pushed iteration \(iteration)"))]
                }
            }
        }
        var directives: [Directive] = []
        var waitsFor: Set<KeyRange> = []
        for segment in pushSegments where iteration >= segments[segment]!.next {
            waitsFor.insert(segment)
            if segments[segment]!.arrived[iteration, default: []].insert(worker).inserted {
                directives.append(.accumulate(segment: segment, iteration: iteration, worker: worker))
            }
        }
        guard !waitsFor.isEmpty else { return directives + [.acknowledge(push)] }
        pushes.append(Waiting(item: push, iteration: iteration, segments: waitsFor))
        return directives + applyComplete(waitsFor)
    }

    /// A pull of `iteration` reading `pullSegments` (each counted here) arrived.
    public mutating func pull(iteration: Int64, segments pullSegments: [KeyRange], _ pull: Pull) -> [Directive] {
        let waitsFor = Set(pullSegments.filter { segments[$0].map { iteration >= $0.next } ?? false })
        guard !waitsFor.isEmpty else { return [.servePull(pull)] }
        pulls.append(Waiting(item: pull, iteration: iteration, segments: waitsFor))
        return []
    }

    /// A worker left the job; iterations no longer wait for it. Its pushes already counted stay in
    /// their sums.
    public mutating func removeWorker(_ worker: NodeID) -> [Directive] {
        workers.remove(worker)
        return applyComplete(Set(segments.keys))
    }

    /// Counts `segment` from now on, its aggregates applied up to `nextIteration - 1`: a segment
    /// this server took over from a replica that holds them.
    public mutating func addSegment(_ segment: KeyRange, nextIteration: Int64) {
        guard segments[segment] == nil else { return }
        segments[segment] = Segment(next: nextIteration)
    }

    /// A join cut `segment` into `pieces` (which tile it): each piece goes on from where the
    /// segment stood, with its arrivals, and what waited for the segment waits for every piece.
    public mutating func split(_ segment: KeyRange, into pieces: [KeyRange]) {
        guard let state = segments.removeValue(forKey: segment) else { return }
        for piece in pieces { segments[piece] = state }
        func cut(_ waiting: inout Set<KeyRange>) {
            if waiting.remove(segment) != nil { waiting.formUnion(pieces) }
        }
        for index in pushes.indices { cut(&pushes[index].segments) }
        for index in pulls.indices { cut(&pulls[index].segments) }
    }

    /// Takes out the pushes and pulls that wait for one of `handedOver`, segments this server is
    /// handing over to a joiner: none of them can complete here any more (new pushes there are
    /// refused), so the shell refuses them and their senders send them again by the next table.
    /// What they brought to other segments stays counted there.
    public mutating func takeWaiting(on handedOver: Set<KeyRange>) -> (pushes: [Push], pulls: [Pull]) {
        var taken: (pushes: [Push], pulls: [Pull]) = ([], [])
        pushes.removeAll { waiting in
            guard !waiting.segments.isDisjoint(with: handedOver) else { return false }
            taken.pushes.append(waiting.item)
            return true
        }
        pulls.removeAll { waiting in
            guard !waiting.segments.isDisjoint(with: handedOver) else { return false }
            taken.pulls.append(waiting.item)
            return true
        }
        return taken
    }

    /// Stops counting `segment`, handed over to a joiner, with its open iterations' arrivals.
    public mutating func removeSegment(_ segment: KeyRange) {
        segments[segment] = nil
    }

    private mutating func applyComplete(_ candidates: Set<KeyRange>) -> [Directive] {
        var directives: [Directive] = []
        var advanced = false
        for segment in candidates.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            // An iteration nobody pushed stays open even with no workers left, so an empty worker
            // set cannot release iterations that never happened.
            while var state = segments[segment], let pushed = state.arrived[state.next], pushed.isSuperset(of: workers) {
                directives.append(.applyAggregate(segment: segment, iteration: state.next))
                state.arrived[state.next] = nil
                state.next += 1
                segments[segment] = state
                advanced = true
            }
        }
        guard advanced else { return directives }
        // A segment no longer counted here completes nothing: what waits for it is taken out
        // with it (``takeWaiting(on:)``).
        func applied(_ iteration: Int64, in segment: KeyRange) -> Bool { segments[segment].map { iteration < $0.next } ?? false }
        pushes.removeAll { waiting in
            let done = waiting.segments.allSatisfy { applied(waiting.iteration, in: $0) }
            if done { directives.append(.acknowledge(waiting.item)) }
            return done
        }
        pulls.removeAll { waiting in
            let done = waiting.segments.allSatisfy { applied(waiting.iteration, in: $0) }
            if done { directives.append(.servePull(waiting.item)) }
            return done
        }
        return directives
    }
}

extension BSPAggregator.Directive: Equatable where Push: Equatable, Pull: Equatable {}
