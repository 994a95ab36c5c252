/// The worker-side task engine: orders a node's pushes and pulls by their dependencies and by the
/// consistency model of their table.
///
/// A pure state machine: the shell submits tasks and reports finished ones; the engine answers with
/// ``EngineAction``s (send this request now, wake these waiters, run this callback). It never sends
/// anything and never reads a clock, so it is tested with scripted completion orders.
///
/// When a task may start: positions count a table's tasks from 0 in submission order, and task number
/// `p` of a table starts once its ``EngineTask/after`` tasks finished and every task of the table
/// before position `q` finished, where `q` comes from the task's ``ConsistencyModel`` (the table's, or
/// the call's override):
/// - ``ConsistencyModel/sequential``: `q = p`, one task of the table in flight at a time;
/// - ``ConsistencyModel/eventual``: `q = 0`, start at once;
/// - ``ConsistencyModel/boundedDelay(maxDelay:)`` τ: `q = p − τ`, so at most τ earlier tasks of the
///   table are unfinished when a task starts (τ + 1 in flight); with one table this is "task `t`
///   starts once every task with timestamp ≤ `t − τ − 1` finished";
/// - ``ConsistencyModel/bsp``: `q` is the position of the table's first task of the task's
///   ``EngineTask/iteration``: an iteration's tasks start together once earlier iterations finished,
///   and servers hold each pull until its iteration is aggregated (``BSPAggregator``).
///
/// `wait(t)` belongs to the shell: it returns at once when ``isFinished(_:)`` says so, and otherwise
/// parks a continuation that the shell resumes on ``EngineAction/complete(_:_:)`` for `t`.
/// See docs/CONSISTENCY.md.
public struct TaskEngine: Sendable {
    /// The model of tables that have none of their own.
    public var defaultModel: ConsistencyModel
    private var tableModels: [UInt32: ConsistencyModel]

    /// The timestamp of the most recently submitted task (``Timestamp/none`` before the first).
    public private(set) var lastIssued: Timestamp = .none
    /// Every task with a timestamp up to this one has finished; lets finished tasks be forgotten.
    private var finishedThrough: Timestamp = .none
    /// Finished timestamps above ``finishedThrough`` (tasks finish out of order).
    private var finishedAbove: Set<Timestamp> = []

    /// Issued tasks that have not finished, waiting or running.
    private var unfinished: [Timestamp: UnfinishedTask] = [:]
    /// For an unfinished task, the waiting tasks that named it in `after`.
    private var dependents: [Timestamp: [Timestamp]] = [:]
    private var tables: [UInt32: TableProgress] = [:]

    /// The number of tasks started and not yet finished.
    public private(set) var runningCount = 0

    private struct UnfinishedTask: Sendable {
        var table: UInt32
        var position: Int
        var callback: CallbackID?
        var remainingDependencies: Int
        var modelSatisfied: Bool
        var isRunning: Bool

        var isStartable: Bool { !isRunning && remainingDependencies == 0 && modelSatisfied }
    }

    /// Per table: every model reduces to "wait until the first `q` positions finished", so one
    /// advancing prefix serves all of them.
    private struct TableProgress: Sendable {
        var submitted = 0
        /// Every position below this has finished.
        var finishedPrefix = 0
        var finishedAbovePrefix: Set<Int> = []
        /// Waiting tasks by the prefix length they need; visited once each as the prefix grows.
        var waitingForPrefix: [Int: [Timestamp]] = [:]
        var lastIteration: Int64?
        var iterationFirstPosition = 0
    }

    /// Creates an engine with a default model and per-table models.
    public init(defaultModel: ConsistencyModel = .eventual, tableModels: [UInt32: ConsistencyModel] = [:]) {
        self.defaultModel = defaultModel
        self.tableModels = tableModels
    }

    /// The model tasks of `table` follow unless a call overrides it.
    public func model(forTable table: UInt32) -> ConsistencyModel {
        tableModels[table] ?? defaultModel
    }

    /// Sets the model of `table` for tasks submitted from now on.
    public mutating func setModel(_ model: ConsistencyModel, forTable table: UInt32) {
        tableModels[table] = model
    }

    /// Whether the task with timestamp `t` has finished. ``Timestamp/none`` counts as finished; a
    /// timestamp not issued yet does not.
    public func isFinished(_ t: Timestamp) -> Bool {
        t <= finishedThrough || finishedAbove.contains(t)
    }

    /// Whether the task with timestamp `t` has started and not finished.
    public func isRunning(_ t: Timestamp) -> Bool { unfinished[t]?.isRunning ?? false }

    /// The number of tasks submitted and not yet started.
    public var waitingCount: Int { unfinished.count - runningCount }

    /// Issues the next timestamp to `task` and says whether it starts right away.
    ///
    /// Throws, without issuing a timestamp, when the task could never start or its model is invalid.
    public mutating func submit(
        _ task: EngineTask
    ) throws(EngineError) -> (timestamp: Timestamp, actions: [EngineAction]) {
        let model = task.consistency ?? self.model(forTable: task.table)
        for dependency in task.after where dependency > lastIssued {
            throw EngineError(
                .unknownDependency, table: task.table,
                "depends on \(dependency), but the last timestamp issued is \(lastIssued)")
        }
        let timestamp = lastIssued.next
        // The table's progress is changed in place through the dictionary's storage: one lookup,
        // and no copy of its sets.
        let (position, modelSatisfied) = try Self.enter(
            task, model: model, timestamp: timestamp, into: &tables[task.table, default: TableProgress()])
        lastIssued = timestamp

        var remainingDependencies = 0
        if !task.after.isEmpty {
            for dependency in Set(task.after) where !isFinished(dependency) {
                remainingDependencies += 1
                dependents[dependency, default: []].append(timestamp)
            }
        }

        var entry = UnfinishedTask(
            table: task.table, position: position, callback: task.callback,
            remainingDependencies: remainingDependencies, modelSatisfied: modelSatisfied, isRunning: false)
        var actions: [EngineAction] = []
        if entry.isStartable {
            entry.isRunning = true
            runningCount += 1
            actions.append(.start(timestamp))
        }
        unfinished[timestamp] = entry
        return (timestamp, actions)
    }

    /// Places task `timestamp` in its table's order: its position, and whether the model lets it
    /// start now (if not, it waits for the finished prefix it needs). Throws, changing nothing, when
    /// the model is invalid for the task.
    private static func enter(
        _ task: EngineTask, model: ConsistencyModel, timestamp: Timestamp, into table: inout TableProgress
    ) throws(EngineError) -> (position: Int, modelSatisfied: Bool) {
        let position = table.submitted
        let requiredPrefix: Int
        switch model {
        case .sequential:
            requiredPrefix = position
        case .eventual:
            requiredPrefix = 0
        case .boundedDelay(let maxDelay):
            guard maxDelay >= 0 else {
                throw EngineError(.invalidModel, table: task.table, "bounded delay \(maxDelay) is negative")
            }
            requiredPrefix = max(0, position - maxDelay)
        case .bsp:
            guard let iteration = task.iteration else {
                throw EngineError(.missingIteration, table: task.table, "a bsp task needs an iteration")
            }
            if let last = table.lastIteration, iteration < last {
                throw EngineError(
                    .iterationWentBack, table: task.table,
                    "iteration \(iteration) follows a task of iteration \(last)")
            }
            if table.lastIteration != iteration {
                table.lastIteration = iteration
                table.iterationFirstPosition = position
            }
            requiredPrefix = table.iterationFirstPosition
        }
        table.submitted += 1
        let modelSatisfied = table.finishedPrefix >= requiredPrefix
        if !modelSatisfied {
            table.waitingForPrefix[requiredPrefix, default: []].append(timestamp)
        }
        return (position, modelSatisfied)
    }

    /// Records that task `t` finished (its replies arrived, or it failed or was cancelled before it
    /// started) and returns what that unblocks: `.complete`, the callback, then newly started tasks in
    /// timestamp order. Finishing an unknown or already finished task does nothing.
    public mutating func finished(_ t: Timestamp, outcome: TaskOutcome = .succeeded) -> [EngineAction] {
        guard let task = unfinished.removeValue(forKey: t) else { return [] }
        if task.isRunning { runningCount -= 1 }
        markFinished(t)

        var actions: [EngineAction] = [.complete(t, outcome)]
        if let callback = task.callback {
            actions.append(.runCallback(callback, timestamp: t, outcome: outcome))
        }

        var started: [Timestamp] = []
        if !dependents.isEmpty {
            for dependent in dependents.removeValue(forKey: t) ?? [] {
                update(dependent, started: &started) { $0.remainingDependencies -= 1 }
            }
        }
        for waiting in Self.advance(&tables[task.table, default: TableProgress()], finished: task.position) {
            update(waiting, started: &started) { $0.modelSatisfied = true }
        }

        started.sort()
        actions += started.map { .start($0) }
        return actions
    }

    /// Records that the task at `position` of a table finished; returns the tasks whose required
    /// finished prefix that completes.
    private static func advance(_ table: inout TableProgress, finished position: Int) -> [Timestamp] {
        guard position == table.finishedPrefix else {
            table.finishedAbovePrefix.insert(position)
            return []
        }
        let oldPrefix = table.finishedPrefix
        table.finishedPrefix += 1
        while !table.finishedAbovePrefix.isEmpty, table.finishedAbovePrefix.remove(table.finishedPrefix) != nil {
            table.finishedPrefix += 1
        }
        guard !table.waitingForPrefix.isEmpty else { return [] }
        var released: [Timestamp] = []
        for prefix in (oldPrefix + 1)...table.finishedPrefix {
            released += table.waitingForPrefix.removeValue(forKey: prefix) ?? []
        }
        return released
    }

    private mutating func update(
        _ t: Timestamp, started: inout [Timestamp], _ change: (inout UnfinishedTask) -> Void
    ) {
        // A task finished before it started (cancelled) may still be listed as waiting.
        guard var task = unfinished[t] else { return }
        change(&task)
        if task.isStartable {
            task.isRunning = true
            runningCount += 1
            started.append(t)
        }
        unfinished[t] = task
    }

    private mutating func markFinished(_ t: Timestamp) {
        guard t == finishedThrough.next else {
            finishedAbove.insert(t)
            return
        }
        finishedThrough = t
        while !finishedAbove.isEmpty, finishedAbove.remove(finishedThrough.next) != nil {
            finishedThrough = finishedThrough.next
        }
    }
}
