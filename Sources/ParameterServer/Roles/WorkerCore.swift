import Logging
import ZeroMQ

/// A worker's logic as a state machine: membership through a ``ManagerLink``, the ``TaskEngine`` that
/// orders its pushes and pulls, and the requests in flight. Each event comes in with its time
/// (``RoleMachine``) and the requests go out as directives, which a ``RoleShell`` carries out on the
/// node's I/O thread. The application talks to it through ``Worker``, whose calls are queued onto
/// that thread and run as events of their own (``execute(_:context:into:)``).
///
/// Every push and pull is a task: submitted to the engine, which says when it may start (its table's
/// consistency model and its `after` dependencies); once started, it is sliced by server range, the
/// slices go out at once and the replies are merged. Request ids count from 1 per server, so each
/// server applies this worker's requests in issue order and exactly once; a slice without an answer
/// after a quarter of the request deadline is sent again with the same id and the `retry` flag. A
/// request still unanswered at its deadline fails with an error naming the server. When a node
/// table drops a server (it died and replicas took over its ranges), the slices in flight to it go
/// to the new holders as new requests that name their first identity (`org`), so none is applied
/// twice (docs/FAULT-TOLERANCE.md).
///
/// This file holds the node's events and the start of tasks; replies and resends are in
/// WorkerCore+Replies.swift, what the application waits for in WorkerCore+Waiting.swift.
public final class WorkerCore: RoleMachine {
    typealias VoidContinuation = CheckedContinuation<Void, any Error>

    typealias Request = WorkerTask.Request
    typealias Task = WorkerTask

    /// A slice on its way to a server: request ids are per server.
    struct SliceKey: Hashable {
        var server: NodeID
        var requestID: UInt64
    }

    struct SentSlice {
        /// The task it belongs to (in ``tasks`` while any of its slices is in flight).
        var task: Task
        var index: Int
        var server: RequestSlicer.Destination
        var header: Header
        var payload: [Frame]
        var sentAt: ContinuousClock.Instant
        /// The slice before the filters encoded it, kept (when filters are on) to resend it with its
        /// keys after a key-cache miss.
        var plain: Message? = nil
        /// A pull slice sent again in parts after a fail-over: which part of how many, and the
        /// positions in the slice of the part's keys.
        var part: (index: Int, of: Int, runs: [Range<Int>])? = nil
        /// The server answered that the slice was routed by an older node table: it waits for the
        /// new one, then goes to the servers that table names.
        var awaitingTable = false
    }

    var link: ManagerLink
    let logger: Logger
    private let outcome: NodeOutcome
    /// Where each key goes, from the node table.
    private(set) var slicer = RequestSlicer(routes: [])
    /// Tasks submitted and not finished, waiting for the engine or in flight.
    var tasks: [Timestamp: Task] = [:]
    var slices: [SliceKey: SentSlice] = [:]
    private var nextRequestIDs: [NodeID: UInt64] = [:]
    private var engine: TaskEngine
    /// The communication filters of the tables (docs/PROTOCOL.md section 13).
    var filters: WorkerFilters
    var failures: [Timestamp: RequestError] = [:]
    /// Retries sent, for logs and tests.
    var retriedSlices = 0
    private var registrationWaiters: [CheckedContinuation<NodeTable, any Error>] = []
    var barrierWaiters: [UInt64: (name: String, continuation: VoidContinuation, deadline: ContinuousClock.Instant)] = [:]
    private var stopping = false
    /// Shared with ``Worker``: every task up to it finished successfully.
    let watermark: FinishedWatermark
    private var watermarkTracker = FinishedWatermark.Tracker()
    /// The loop has ended: tasks the engine releases are not started any more.
    private var loopEnded = false
    /// The time of the event being handled.
    var now: ContinuousClock.Instant = .now
    /// The endpoint this node is bound to, as of the event being handled.
    private var localEndpoint = ""
    /// The directives of the event being handled (the caller's buffer, swapped in for the event).
    var directives: [NodeDirective] = []

    /// Creates the worker logic; `outcome` receives the reason it stopped.
    public convenience init(settings: NodeSettings, outcome: NodeOutcome, logger: Logger) {
        self.init(settings: settings, outcome: outcome, watermark: FinishedWatermark(), logger: logger)
    }

    /// Creates the worker logic that advances `watermark` as its tasks finish.
    init(settings: NodeSettings, outcome: NodeOutcome, watermark: FinishedWatermark, logger: Logger) {
        self.watermark = watermark
        self.link = ManagerLink(settings: settings, logger: logger)
        self.settings = settings
        name = settings.name
        self.outcome = outcome
        self.logger = logger
        filters = WorkerFilters(tables: settings.tables)
        engine = TaskEngine(tableModels: Dictionary(
            settings.tables.map { ($0.id, $0.consistency) }, uniquingKeysWith: { first, _ in first }))
    }

    /// The node's settings, kept apart from the link's copy so that reading one field on the
    /// request path does not copy them all.
    let settings: NodeSettings
    /// The node's name, for errors and logs (built once: `NodeSettings.name` formats it).
    let name: String

    /// How long a slice waits for its answer before it is sent again.
    var retryInterval: Duration { settings.deadlines.request / 4 }

    // MARK: Events

    public func handle(_ event: NodeEvent, context: NodeContext, into directives: inout [NodeDirective]) {
        now = context.now
        localEndpoint = context.localEndpoint
        swap(&self.directives, &directives)
        defer { swap(&self.directives, &directives) }
        switch event {
        case .started:
            link.start(context: context, into: &self.directives)
        case .received(let frames, let peer):
            received(frames, from: peer)
        case .tick:
            tick()
        case .drained:
            break
        case .sendFailed(let directive, let error):
            sendFailed(directive, error: error)
        }
    }

    /// Runs `work` queued by ``Worker`` as an event of its own at `context`: what it sends is
    /// appended to `directives`.
    public func execute(_ work: (WorkerCore) -> Void, context: NodeContext, into directives: inout [NodeDirective]) {
        now = context.now
        localEndpoint = context.localEndpoint
        swap(&self.directives, &directives)
        defer { swap(&self.directives, &directives) }
        work(self)
    }

    private func tick() {
        do {
            try link.tick(now: now, into: &directives)
        } catch {
            stop(failing: error)
        }
        let now = self.now
        let late = tasks.values.filter { task in (task.deadline.map { $0 < now } ?? false) && task.remaining > 0 }
        for task in late.sorted(by: { $0.timestamp < $1.timestamp }) {
            let missing = slices.values.filter { $0.task === task }.sorted { $0.index < $1.index }
                .map(\.server.description)
            fail(task, RequestError(
                code: .timeout, peer: missing.joined(separator: ", "),
                message: "did not answer \(task.kind) \(task.timestamp) (\(task.keyCount) keys) within \(settings.deadlines.request.secondsText)"))
        }
        resendUnanswered(now: now)
        for (id, barrier) in barrierWaiters where barrier.deadline < now {
            barrierWaiters[id] = nil
            barrier.continuation.resume(throwing: RequestError(
                code: .timeout, peer: "manager (\(settings.managerEndpoint))",
                message: "did not release barrier '\(barrier.name)' within \(settings.deadlines.barrier.secondsText)"))
        }
    }

    /// While requests are in flight to the only server there is, its replies are nearly all this
    /// worker's input: the transport may wait for them inside libzmq's receive on that DEALER.
    public var mainSocket: MainSocket? {
        guard !slices.isEmpty, let server = slicer.onlyServer else { return nil }
        return .dealer(server.node.endpoint)
    }

    public func stopped(error: (any Error)?) {
        loopEnded = true
        if let error { outcome.fail("\(name) stopped: \(error)") }
        let reason = RequestError(
            code: .shuttingDown, peer: name, message: outcome.failure ?? "the worker stopped")
        for task in tasks.values.sorted(by: { $0.timestamp < $1.timestamp }) { fail(task, reason) }
        for waiter in registrationWaiters { waiter.resume(throwing: reason) }
        registrationWaiters.removeAll()
        for barrier in barrierWaiters.values { barrier.continuation.resume(throwing: reason) }
        barrierWaiters.removeAll()
    }

    func received(_ frames: [Frame], from peer: PeerAddress) {
        let message: Message
        do {
            // Replies may be filter-encoded; `handleReply` decodes and checks their payload.
            message = try filters.isActive && peer != link.manager
                ? MessageCodec.decodeEncoded(frames, limits: settings.limits)
                : MessageCodec.decode(frames, limits: settings.limits)
        } catch {
            logger.warning("\(name) dropped a malformed message from \(peer): \(error)")
            return
        }
        if peer == link.manager {
            perform { try handleManager(message) }
        } else {
            handleReply(message, from: peer)
        }
    }

    /// Runs `body`; an error it throws is the node's failure and stops it.
    private func perform(_ body: () throws -> Void) {
        do {
            try body()
        } catch {
            stop(failing: error)
        }
    }

    /// Records `error` as the node's failure and stops it.
    private func stop(failing error: any Error) {
        outcome.fail("\(error)")
        directives.append(.stop)
    }

    /// A send failed: membership traffic fails the node; a request's first slice fails its task;
    /// a barrier fails its caller; a slice sent again is logged (the retry timer sends it again).
    private func sendFailed(_ directive: NodeDirective, error: any Error) {
        let header = directive.header
        switch directive.onFailure {
        case .fatal?:
            stop(failing: error)
        case .request(let server)?:
            guard let header, let sent = slices[SliceKey(server: server, requestID: header.requestID)] else { return }
            fail(sent.task, RequestError(code: .internalError, peer: sent.server.description, message: "could not send: \(error)"))
        case .barrier?:
            guard let header, let barrier = barrierWaiters.removeValue(forKey: header.requestID) else { return }
            barrier.continuation.resume(throwing: error)
        case .logged?, nil:
            let request = header.map { "request \($0.requestID)" } ?? "a request"
            logger.warning("\(name) could not send \(request) to \(directive.peer.map { "\($0)" } ?? "a server"): \(error)")
        }
    }

    private func handleManager(_ message: Message) throws {
        switch try link.handle(message, context: NodeContext(now: now, localEndpoint: localEndpoint), into: &directives) {
        case .nodeTable(let table), .nodeTableChange(let table, _):
            slicer = RequestSlicer(table)
            for waiter in registrationWaiters { waiter.resume(returning: table) }
            registrationWaiters.removeAll()
            reroute(by: table)
        case .shutdown(let jobFailure):
            if let jobFailure { outcome.jobFailed(jobFailure) }
            stopping = true
            directives.append(.stop)
        case .message(let message) where message.header.kind == .barrierRelease:
            if let barrier = barrierWaiters.removeValue(forKey: message.header.requestID) {
                barrier.continuation.resume()
            }
        case .message(let message):
            logger.warning("\(name) ignored a \(message.header.kind) message from the manager")
        case .leaseEstablished, .notListed, .leaveRefused, nil:
            // Workers serve nothing: the lease is a server's; only a server is left out of a table
            // or leaves the job.
            break
        }
    }

    // MARK: Requests from the application (on the I/O thread)

    func whenRegistered(_ continuation: CheckedContinuation<NodeTable, any Error>) {
        if let table = link.table { continuation.resume(returning: table) } else { registrationWaiters.append(continuation) }
    }

    /// Submits a push or pull of `keys` (sorted, validated by the caller) to the engine as task
    /// `timestamp`, and sends it when the engine lets it start. `Worker` issues timestamps in the
    /// order it queues submissions, and checks everything the engine would refuse, so the engine's
    /// timestamp is the same.
    func submit(
        _ request: Request, timestamp: Timestamp, after: [Timestamp], consistency: ConsistencyModel?
    ) {
        submit(Task(timestamp: timestamp, request: request), after: after, consistency: consistency)
    }

    /// Submits `task` (made by ``Worker`` on the caller's thread, its request not started) to the
    /// engine, and sends it when the engine lets it start.
    func submit(_ task: WorkerTask, after: [Timestamp], consistency: ConsistencyModel?) {
        let timestamp = task.timestamp
        guard task.request != nil else { return }
        tasks[timestamp] = task
        let submitted: (timestamp: Timestamp, actions: [EngineAction])
        do {
            submitted = try engine.submit(EngineTask(
                table: task.table, after: after, consistency: consistency, iteration: task.iteration))
        } catch {
            // Unreachable while Worker checks what the engine checks; the timestamp is used up all the
            // same so that the two counters stay equal.
            _ = try? engine.submit(EngineTask(table: .max, consistency: .eventual))
            _ = engine.finished(timestamp)
            fail(task, RequestError(code: .invalidRequest, peer: name, message: "\(error)"))
            return
        }
        assert(submitted.timestamp == timestamp, "worker and engine disagree on timestamps")
        if submitted.actions.count == 1, case .start(timestamp) = submitted.actions[0] {
            start(task)  // the common case, without looking the task up again
        } else {
            perform(submitted.actions)
        }
    }

    private func perform(_ actions: [EngineAction]) {
        for action in actions {
            switch action {
            case .start(let timestamp):
                if let task = tasks[timestamp] { start(task) }
            case .complete, .runCallback:
                break  // `finish` resumes the waiters; this shell attaches no callback ids
            }
        }
    }

    private func start(_ task: Task) {
        guard var request = task.request.take() else { return }
        filters.filterPush(&request)
        if request.kind == .pull { filters.pullStarted(task.timestamp, table: request.table.id, keys: request.keys) }
        let now = now
        task.deadline = now + settings.deadlines.request
        var outgoing: [RequestSlicer.Slice]
        do {
            if request.range != nil {
                outgoing = []
            } else if request.kind == .push, request.iteration != nil {
                // Every server gets the iteration's push, with the segments it counts toward.
                outgoing = try slicer.slices(
                    keys: request.keys, values: request.values, valueLength: request.table.valueLength, within: [.all], node: name)
            } else {
                outgoing = try slicer.slices(keys: request.keys, values: request.values, valueLength: request.table.valueLength, node: name)
            }
        } catch {
            fail(task, error)
            return
        }
        if let range = request.range { outgoing = slicer.slices(of: range) }
        task.remaining = outgoing.count
        task.sliceParts = outgoing.map { ($0.keyCount, $0.runs, nil) }
        if outgoing.isEmpty {
            complete(task)
            return
        }
        for (index, slice) in outgoing.enumerated() {
            let requestID = takeRequestID(for: slice.server.id)
            var header = Header(
                kind: request.kind, sender: link.nodeID, requestID: requestID, table: request.table.id,
                timestamp: task.timestamp.rawValue, flags: request.wantClock ? .wantClock : [],
                keyCount: UInt32(slice.keyCount), valueLength: UInt32(request.table.valueLength), updater: request.updater)
            header.iteration = request.iteration
            header.segments = slice.segments
            header.keyRange = slice.range
            header.arguments = request.arguments
            header.tableVersion = link.table?.version
            let keys = slice.range == nil ? slice.keys : nil
            var sent = SentSlice(task: task, index: index, server: slice.server, header: header, payload: [], sentAt: now)
            if filters.isActive {
                let plain = Message(header: header, keys: keys, values: slice.values)
                let message = filters.encode(plain, to: slice.server.id)
                sent.header = message.header
                sent.payload = message.payloadFrames
                sent.plain = plain
            } else {
                // Without filters the slice goes as it is: no message to encode.
                if let keys { sent.payload.append(keys) }
                if let values = slice.values { sent.payload.append(values) }
                filters.countPlain(header, payloadBytes: (keys?.count ?? 0) + (slice.values?.count ?? 0))
            }
            directives.append(.send(
                sent.header, payload: sent.payload, to: slice.server.address, onFailure: .request(server: slice.server.id)))
            slices[SliceKey(server: slice.server.id, requestID: requestID)] = sent
        }
    }

    /// The next request id for `server` (ids count from 1 per server), used up.
    func takeRequestID(for server: NodeID) -> UInt64 {
        func take(_ next: inout UInt64) -> UInt64 {
            defer { next += 1 }
            return next
        }
        return take(&nextRequestIDs[server, default: 1])
    }

    func complete(_ task: Task) {
        if let pull = task.pull {
            let pulled = task.pulledValues()
            filters.pullCompleted(task.timestamp, values: pulled.values)
            pull.finish(.success(pulled))
            task.pull = nil
        }
        finish(task, outcome: .succeeded)
    }

    func fail(_ task: Task, _ error: RequestError) {
        guard tasks[task.timestamp] != nil else { return }
        task.error = error
        slices = slices.filter { $0.value.task !== task }
        task.pull?.finish(.failure(error))
        task.pull = nil
        failures[task.timestamp] = error
        finish(task, outcome: .failed(WireError(error.code, field: "k", error.message)))
    }

    /// Marks the task finished in the engine, resumes its waiters, and starts what it released.
    /// Once the loop has ended nothing is started.
    private func finish(_ task: Task, outcome: TaskOutcome) {
        tasks[task.timestamp] = nil
        watermarkTracker.finished(task.timestamp.rawValue, succeeded: outcome == .succeeded, watermark: watermark)
        filters.taskEnded(task.timestamp)
        let actions = engine.finished(task.timestamp, outcome: outcome)
        if let waiting = task.waiting {
            task.waiting = nil
            if let error = task.error { waiting.resume(throwing: error) } else { waiting.resume() }
        }
        let waiters = task.waiters
        task.waiters.removeAll()
        for waiter in waiters { waiter(task.error) }
        if !loopEnded { perform(actions) }
    }
}
