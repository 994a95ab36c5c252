import Logging
import Synchronization
import ZeroMQ

/// The application's handle on a worker node: push gradients, pull weights, wait, meet at barriers.
///
/// Calls may come from any task; each is validated on the caller's thread, given its task timestamp
/// and queued onto the node's I/O thread, where ``WorkerCore``'s ``TaskEngine`` starts it when the
/// table's consistency model (or the call's `consistency`) and its `after` dependencies allow, then
/// splits it by server, one message to each. `push` and ``submitPull(table:keys:consistency:after:iteration:wantClock:inPlace:)``
/// return as soon as the task is queued; ``wait(_:)`` tells when it finished. See docs/CONSISTENCY.md.
///
/// A ``WorkerNode`` hands its application a worker whose I/O thread speaks ZeroMQ; an
/// ``InMemoryNetworkThread`` hands out workers on the in-memory network, for tests of an
/// application or of the roles under fake time.
public final class Worker: Sendable {
    private let transport: any WorkerLoop
    /// What the engine would check, mirrored here so that a refused call throws to its caller
    /// without using up a timestamp.
    private struct IssueState {
        var lastIssued: Int64 = 0
        /// The iteration of the latest `bsp` task of each table.
        var lastIteration: [UInt32: Int64] = [:]
    }
    private let issue = Mutex(IssueState())
    /// The key arrays found strictly ascending most recently, not scanned again.
    private let checkedKeyLists = Mutex(CheckedKeyLists())
    /// The node's settings.
    public let settings: NodeSettings
    private let tablesByName: [String: TableSpec]
    private let tablesByID: [UInt32: TableSpec]

    /// Every task up to it finished successfully (kept by the I/O thread).
    private let watermark: FinishedWatermark

    init(transport: any WorkerLoop, settings: NodeSettings, watermark: FinishedWatermark) {
        self.transport = transport
        self.watermark = watermark
        self.settings = settings
        tablesByName = Dictionary(settings.tables.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        tablesByID = Dictionary(settings.tables.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The table called `name`, or an error listing the tables there are.
    public func table(named name: String) throws -> TableSpec {
        guard let table = tablesByName[name] else {
            throw RequestError(
                code: .unknownTable, peer: settings.name,
                message: "no table named '\(name)'; tables: \(tablesByName.keys.sorted().joined(separator: ", "))")
        }
        return table
    }

    private func table(_ id: UInt32) throws -> TableSpec {
        guard let table = tablesByID[id] else {
            throw RequestError(code: .unknownTable, peer: settings.name, message: "no table with id \(id)")
        }
        return table
    }

    /// Waits until the manager has admitted this worker and sent the node table.
    public func waitUntilRegistered() async throws -> NodeTable {
        try await withCheckedThrowingContinuation { continuation in
            enqueue(continuation) { core in core.whenRegistered(continuation) }
        }
    }

    /// The newest timestamp this worker issued.
    public var latestTimestamp: Timestamp { Timestamp(issue.withLock { $0.lastIssued }) }

    /// Checks a task against what the engine requires, issues its timestamp and queues it, in one
    /// step so that timestamps reach the I/O thread in order.
    private func enqueue(
        _ request: consuming WorkerCore.Request, after: [Timestamp], consistency: ConsistencyModel?
    ) throws -> (timestamp: Timestamp, pull: PendingPull?) {
        let model = consistency ?? request.table.consistency
        if case .boundedDelay(let delay) = model, delay < 0 {
            throw RequestError(code: .invalidRequest, peer: settings.name, message: "bounded delay \(delay) is negative")
        }
        if model == .bsp, request.iteration == nil {
            throw RequestError(
                code: .invalidRequest, peer: settings.name,
                message: "a bsp \(request.kind) on '\(request.table.name)' needs an iteration")
        }
        if model != .bsp, request.iteration != nil, request.table.consistency != .bsp {
            throw RequestError(
                code: .invalidRequest, peer: settings.name,
                message: "'\(request.table.name)' is not a bsp table; only its tasks carry an iteration")
        }
        // The request moves into the task here, so that the queued work holds one reference, not a copy.
        let task = WorkerTask(request: request)
        return try issue.withLock { state throws(RequestError) -> (timestamp: Timestamp, pull: PendingPull?) in
            if let missing = after.first(where: { $0.rawValue > state.lastIssued }) {
                throw RequestError(
                    code: .invalidRequest, peer: settings.name,
                    message: "depends on \(missing), but the last timestamp issued is t\(state.lastIssued)")
            }
            if model == .bsp, let iteration = task.iteration {
                if let last = state.lastIteration[task.table], iteration < last {
                    throw RequestError(
                        code: .invalidRequest, peer: settings.name,
                        message: "iteration \(iteration) of '\(tablesByID[task.table]?.name ?? "\(task.table)")' follows a task of iteration \(last)")
                }
                state.lastIteration[task.table] = iteration
            }
            let timestamp = Timestamp(state.lastIssued + 1)
            let pull = task.kind == .pull ? PendingPull(timestamp: timestamp) : nil
            task.issue(timestamp, pull: pull)
            let accepted = transport.execute { core in
                core.submit(task, after: after, consistency: consistency)
            }
            guard accepted else { throw stoppedError }
            state.lastIssued += 1
            return (timestamp, pull)
        }
    }

    /// Sends `values` (`valueLength` floats per key) for the sorted, unique `keys` of `table`, to be
    /// folded in by the table's updater (or `updater`), and returns the task's timestamp at once.
    @discardableResult
    public func push(table id: UInt32, keys: [UInt64], values: [Float], updater: String? = nil) async throws -> Timestamp {
        try await push(table: id, keys: keys, values: values, updater: updater, consistency: nil, after: [], iteration: nil)
    }

    /// Sends `values` (`valueLength` floats per key) for the sorted, unique `keys` of `table`, to be
    /// folded in by the table's updater (or `updater`), and returns the task's timestamp at once.
    ///
    /// The task starts when the table's consistency model (or `consistency`) and `after` allow;
    /// a push to a `bsp` table names its `iteration`.
    @discardableResult
    public func push(
        table id: UInt32, keys: [UInt64], values: [Float], updater: String? = nil,
        consistency: ConsistencyModel? = nil, after: [Timestamp] = [], iteration: Int64? = nil
    ) async throws -> Timestamp {
        let spec = try table(id)
        try validate(keys: keys)
        guard values.count == keys.count * spec.valueLength else {
            throw RequestError(
                code: .sizeMismatch, peer: settings.name,
                message: "push to '\(spec.name)' has \(values.count) values for \(keys.count) keys × \(spec.valueLength)")
        }
        let request = WorkerCore.Request(
            kind: .push, table: spec, keys: keys, values: values, updater: updater, iteration: iteration,
            wantClock: false, pull: nil)
        return try enqueue(request, after: after, consistency: consistency).timestamp
    }

    /// Queues a pull of the sorted, unique `keys` of `table` and returns at once; the result says
    /// when it finished and holds the values (`valueLength` floats per key, in key order) and, with
    /// `wantClock`, the vector clock of what the servers read.
    ///
    /// With `inPlace` the result keeps the servers' reply frames and its ``PulledValues/floats``
    /// read them where they arrived, instead of a copy into an array: for large values, where the
    /// copy is a good part of a pull's time.
    public func submitPull(
        table id: UInt32, keys: [UInt64], consistency: ConsistencyModel? = nil, after: [Timestamp] = [],
        iteration: Int64? = nil, wantClock: Bool = false, inPlace: Bool = false
    ) throws -> PendingPull {
        let spec = try table(id)
        try validate(keys: keys)
        var request = WorkerCore.Request(
            kind: .pull, table: spec, keys: keys, values: nil, updater: nil, iteration: iteration,
            wantClock: wantClock, pull: nil)
        request.readsInPlace = inPlace
        return try enqueue(request, after: after, consistency: consistency).pull!
    }

    /// Reads the values of the sorted, unique `keys` of `table`: `valueLength` floats per key, in key order.
    public func pull(table id: UInt32, keys: [UInt64]) async throws -> [Float] {
        try await pull(table: id, keys: keys, consistency: nil, after: [], iteration: nil)
    }

    /// Reads the values of the sorted, unique `keys` of `table` like ``pull(table:keys:)``, in
    /// place: the floats stay in the frames the servers' replies came in, and nothing is copied.
    public func pullInPlace(table id: UInt32, keys: [UInt64]) async throws -> PulledFloats {
        try await submitPull(table: id, keys: keys, inPlace: true).values().floats
    }

    /// Reads the values of the sorted, unique `keys` of `table` once the table's consistency model
    /// (or `consistency`) and `after` allow: `valueLength` floats per key, in key order.
    public func pull(
        table id: UInt32, keys: [UInt64], consistency: ConsistencyModel? = nil, after: [Timestamp] = [],
        iteration: Int64? = nil
    ) async throws -> [Float] {
        try await submitPull(table: id, keys: keys, consistency: consistency, after: after, iteration: iteration)
            .values().values
    }

    /// Waits until the task `timestamp` has been applied by every server it went to; throws its error.
    public func wait(_ timestamp: Timestamp) async throws {
        // Finished with every task before it: no need to ask the I/O thread.
        if timestamp.rawValue <= watermark.value { return }
        // Unchecked: every request waits here, and `WorkerCore.whenFinished` resumes exactly once
        // (or the failed `execute` does, below).
        try await withUnsafeThrowingContinuation { continuation in
            if !transport.execute({ core in core.whenFinished(timestamp, continuation) }) {
                continuation.resume(throwing: stoppedError)
            }
        }
    }

    /// Chains work onto a task without waiting for it: `callback` runs once the task `timestamp`
    /// finished (at once if it already has), with the task's error or `nil`.
    ///
    /// The callback runs on the worker's I/O thread, so it must be short: submit the next task
    /// (``submitPull(table:keys:consistency:after:iteration:wantClock:inPlace:)`` does not suspend), resume a
    /// continuation, count.
    public func whenFinished(_ timestamp: Timestamp, run callback: @escaping @Sendable (RequestError?) -> Void) throws {
        guard transport.execute({ core in core.whenFinished(timestamp, run: callback) }) else { throw stoppedError }
    }

    /// How many requests this worker has sent again, with the `retry` flag, for want of an answer
    /// within a quarter of the request deadline.
    public func retriedRequestCount() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            enqueue(continuation) { core in continuation.resume(returning: core.retriedSlices) }
        }
    }

    /// Waits until every task issued so far has finished; throws the first failure among them.
    /// Pushes first what the value filters (significantly modified, KKT) held back (``flush()``).
    public func waitForAll() async throws {
        try await flush()
        let last = latestTimestamp
        try await withCheckedThrowingContinuation { continuation in
            enqueue(continuation) { core in core.whenAllFinished(upTo: last, continuation) }
        }
    }

    /// Runs the server-side function `name` (docs/PROTOCOL.md section 14: `scale`, `set`,
    /// `proximal_l1`, or one a server registered) with `arguments` on every stored value of `range`
    /// in `table`, on each server holding part of it, and returns the task's timestamp at once.
    ///
    /// A task like a push: it starts when the table's consistency model (or `consistency`) and
    /// `after` allow, and each server runs it after this worker's earlier requests to it.
    @discardableResult
    public func applyFunction(
        table id: UInt32, range: KeyRange, name: String, arguments: [Double] = [],
        consistency: ConsistencyModel? = nil, after: [Timestamp] = []
    ) throws -> Timestamp {
        let spec = try table(id)
        let request = WorkerCore.Request(
            kind: .rangeFunction, table: spec, keys: [], values: nil, updater: name, iteration: nil,
            wantClock: false, pull: nil, range: range, arguments: arguments)
        return try enqueue(request, after: after, consistency: consistency).timestamp
    }

    /// Pushes, with each table's updater, the changes the value filters (significantly modified, KKT) held back
    /// (they stay below their thresholds until then), and returns at once; ``waitForAll()`` calls it.
    public func flush() async throws {
        let pending = try await withCheckedThrowingContinuation { continuation in
            enqueue(continuation) { core in continuation.resume(returning: core.takePendingPushes()) }
        }
        for part in pending {
            let spec = try table(part.table)
            let request = WorkerCore.Request(
                kind: .push, table: spec, keys: part.keys, values: part.values, updater: nil, iteration: nil,
                wantClock: false, pull: nil, bypassesValueFilters: true)
            _ = try enqueue(request, after: [], consistency: nil)
        }
    }

    /// What this worker's requests put on the wire so far, and what each communication filter did.
    public func traffic() async throws -> WorkerTraffic {
        try await withCheckedThrowingContinuation { continuation in
            enqueue(continuation) { core in continuation.resume(returning: core.filters.traffic) }
        }
    }

    /// Waits until every worker has reached the barrier `name`.
    public func barrier(_ name: String) async throws {
        try await withCheckedThrowingContinuation { continuation in
            enqueue(continuation) { core in core.barrier(name, continuation: continuation) }
        }
    }

    /// Tells the manager this worker's application ended, with a one-line summary or a failure.
    public func reportDone(summary: String, failure: String? = nil) {
        transport.execute { core in core.reportDone(summary: summary, failure: failure) }
    }

    /// Stops the worker's I/O loop (after a signal); requests in flight fail.
    public func stop() {
        transport.stop()
    }

    private var stoppedError: RequestError {
        RequestError(code: .shuttingDown, peer: settings.name, message: "the worker has stopped")
    }

    /// Queues `work`, or fails `continuation` at once when the I/O loop has already ended.
    private func enqueue<T>(_ continuation: CheckedContinuation<T, any Error>, _ work: @escaping WorkerLoop.Work) {
        if !transport.execute(work) { continuation.resume(throwing: stoppedError) }
    }

    private func validate(keys: [UInt64]) throws {
        if checkedKeyLists.withLock({ $0.contains(keys) }) { return }
        // Every request pays for this scan, so it is the server's branch-free block scan, not a loop
        // that can exit at every key.
        let unsorted = keys.withUnsafeBytes { bytes in
            keys.count > 1 ? PayloadValidation.firstUnsortedIndex(bytes.baseAddress!, count: keys.count) : nil
        }
        if let i = unsorted {
            throw RequestError(
                code: .unsortedKeys, peer: settings.name,
                message: "keys must be strictly ascending: key \(keys[i]) at index \(i) follows \(keys[i - 1])")
        }
        checkedKeyLists.withLock { $0.insert(keys) }
    }
}
