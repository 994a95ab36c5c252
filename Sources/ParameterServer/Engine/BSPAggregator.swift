/// Server-side synchronous aggregation of one table: bulk synchronous parallel (BSP) iterations.
///
/// Each iteration, every worker sends this server exactly one push (possibly without keys). The shell
/// adds each push into a running sum for its iteration (``Directive/accumulate(iteration:worker:_:)``)
/// and acknowledges it; once every worker's push of the iteration arrived, the sum is applied to the
/// table once (``Directive/applyAggregate(iteration:)``), iterations strictly in order, and the pulls
/// held for that iteration are answered (``Directive/servePull(iteration:_:)``). A pull of iteration
/// `i` therefore always reads a table that holds the aggregates of iterations up to `i`, and no part
/// of iteration `i + 1`.
///
/// A pure state machine, generic over what the shell calls a push (e.g. a payload id) and a pull.
public struct BSPAggregator<Push: Sendable, Pull: Sendable>: Sendable {
    /// What the shell does next.
    public enum Directive: Sendable {
        /// Add the push's values into the sum kept for `iteration`, then acknowledge the push.
        case accumulate(iteration: Int64, worker: NodeID, Push)
        /// Every worker's push of `iteration` arrived: apply its sum to the table and drop the sum.
        case applyAggregate(iteration: Int64)
        /// Answer the pull now; the table holds every aggregate up to `iteration`.
        case servePull(iteration: Int64, Pull)
        /// The push cannot be taken; answer it with ``BSPError/wireError`` and do not apply it.
        case rejectPush(Push, BSPError)
    }

    /// The workers whose pushes complete an iteration.
    public private(set) var workers: Set<NodeID>
    /// The oldest iteration whose aggregate has not been applied yet.
    public private(set) var nextIteration: Int64
    private var arrived: [Int64: Set<NodeID>] = [:]
    private var heldPulls: [Int64: [Pull]] = [:]

    /// Creates an aggregator waiting for `workers`, starting at `firstIteration`.
    public init(workers: Set<NodeID>, firstIteration: Int64 = 0) {
        self.workers = workers
        self.nextIteration = firstIteration
    }

    /// The workers whose push of `iteration` has arrived.
    public func arrivedWorkers(iteration: Int64) -> Set<NodeID> {
        iteration < nextIteration ? workers : arrived[iteration] ?? []
    }

    /// The number of pulls waiting for an aggregate.
    public var heldPullCount: Int { heldPulls.values.reduce(0) { $0 + $1.count } }

    /// A worker's push of `iteration` arrived.
    public mutating func push(from worker: NodeID, iteration: Int64, _ push: Push) -> [Directive] {
        guard workers.contains(worker) else {
            return [.rejectPush(push, BSPError(
                .unknownWorker, worker: worker, iteration: iteration,
                "\(worker) is not one of the \(workers.count) workers this table aggregates"))]
        }
        guard iteration >= nextIteration else {
            return [.rejectPush(push, BSPError(
                .iterationClosed, worker: worker, iteration: iteration,
                "iteration \(iteration) was already applied; the next open iteration is \(nextIteration)"))]
        }
        guard arrived[iteration]?.contains(worker) != true else {
            return [.rejectPush(push, BSPError(
                .duplicatePush, worker: worker, iteration: iteration,
                "\(worker) already pushed iteration \(iteration)"))]
        }
        arrived[iteration, default: []].insert(worker)
        return [.accumulate(iteration: iteration, worker: worker, push)] + applyCompleteIterations()
    }

    /// A pull of `iteration` arrived (from a worker or any other reader).
    public mutating func pull(from reader: NodeID, iteration: Int64, _ pull: Pull) -> [Directive] {
        if iteration < nextIteration {
            return [.servePull(iteration: iteration, pull)]
        }
        heldPulls[iteration, default: []].append(pull)
        return []
    }

    /// A worker left the job; iterations no longer wait for it. Its pushes already accumulated stay in
    /// their sums.
    public mutating func removeWorker(_ worker: NodeID) -> [Directive] {
        workers.remove(worker)
        return applyCompleteIterations()
    }

    private mutating func applyCompleteIterations() -> [Directive] {
        var directives: [Directive] = []
        // An iteration nobody pushed stays open even with no workers left, so an empty worker set
        // cannot release iterations that never happened.
        while let pushed = arrived[nextIteration], pushed.isSuperset(of: workers) {
            let iteration = nextIteration
            arrived[iteration] = nil
            directives.append(.applyAggregate(iteration: iteration))
            for pull in heldPulls.removeValue(forKey: iteration) ?? [] {
                directives.append(.servePull(iteration: iteration, pull))
            }
            nextIteration += 1
        }
        return directives
    }
}

extension BSPAggregator.Directive: Equatable where Push: Equatable, Pull: Equatable {}
