import Logging
import ZeroMQ

/// A worker's logic on its I/O thread: membership through a ``ManagerLink``, the ``TaskEngine`` that
/// orders its pushes and pulls, and the requests in flight. The application talks to it through
/// ``Worker``, whose calls are queued onto this thread.
///
/// Every push and pull is a task: submitted to the engine, which says when it may start (its table's
/// consistency model and its `after` dependencies); once started, it is sliced by server range, the
/// slices go out at once and the replies are merged. Request ids count from 1 per server, so each
/// server applies this worker's requests in issue order and exactly once; a slice without an answer
/// after a quarter of the request deadline is sent again with the same id and the `retry` flag. A
/// request still unanswered at its deadline fails with an error naming the server.
public final class WorkerCore: TransportHandler {
    typealias VoidContinuation = CheckedContinuation<Void, any Error>

    /// One server's share of the key space.
    struct Route {
        var range: KeyRange
        var server: NodeInfo
    }

    /// A push or pull as the application submitted it, kept until the engine starts it.
    struct Request {
        var kind: MessageKind
        var table: TableSpec
        var keys: [UInt64]
        var values: [Float]?
        var updater: String?
        var iteration: Int64?
        var wantClock: Bool
        var pull: PendingPull?
    }

    private final class Task {
        let timestamp: Timestamp
        let kind: MessageKind
        let valueLength: Int
        let keyCount: Int
        /// Until the engine starts the task.
        var request: Request?
        var deadline: ContinuousClock.Instant?
        var remaining = 0
        /// Pull replies by slice, merged in key order when the last arrives.
        var sliceValues: [Frame?] = []
        var sliceKeyCounts: [Int] = []
        var sliceServers: [NodeInfo] = []
        var clock: [Int64]?
        var clockMissing = false
        var pull: PendingPull?
        var waiters: [(RequestError?) -> Void] = []
        var error: RequestError?

        init(timestamp: Timestamp, request: Request) {
            self.timestamp = timestamp
            kind = request.kind
            valueLength = request.table.valueLength
            keyCount = request.keys.count
            pull = request.pull
            self.request = request
        }
    }

    /// A slice on its way to a server: request ids are per server.
    private struct SliceKey: Hashable {
        var server: NodeID
        var requestID: UInt64
    }

    private struct SentSlice {
        var task: Timestamp
        var index: Int
        var server: NodeInfo
        var header: Header
        var payload: [Frame]
        var sentAt: ContinuousClock.Instant
    }

    private var link: ManagerLink
    private let logger: Logger
    private let outcome: NodeOutcome
    private(set) var routes: [Route] = []
    /// Tasks submitted and not finished, waiting for the engine or in flight.
    private var tasks: [Timestamp: Task] = [:]
    private var slices: [SliceKey: SentSlice] = [:]
    private var nextRequestIDs: [NodeID: UInt64] = [:]
    private var engine: TaskEngine
    private var failures: [Timestamp: RequestError] = [:]
    /// Retries sent, for logs and tests.
    private(set) var retriedSlices = 0
    private var registrationWaiters: [CheckedContinuation<NodeTable, any Error>] = []
    private var barrierWaiters: [UInt64: (name: String, continuation: VoidContinuation, deadline: ContinuousClock.Instant)] = [:]
    private var stopping = false

    /// Creates the worker logic; `outcome` receives the reason it stopped.
    public init(settings: NodeSettings, outcome: NodeOutcome, logger: Logger) {
        self.link = ManagerLink(settings: settings, logger: logger)
        self.outcome = outcome
        self.logger = logger
        engine = TaskEngine(tableModels: Dictionary(
            settings.tables.map { ($0.id, $0.consistency) }, uniquingKeysWith: { first, _ in first }))
    }

    var settings: NodeSettings { link.settings }

    /// How long a slice waits for its answer before it is sent again.
    private var retryInterval: Duration { settings.deadlines.request / 4 }

    // MARK: TransportHandler

    public func start(io: any TransportIO) {
        perform(io) { try link.start(io: io) }
    }

    public func tick(io: any TransportIO) {
        perform(io) { try link.tick(io: io) }
        let now = io.now
        let late = tasks.values.filter { task in (task.deadline.map { $0 < now } ?? false) && task.remaining > 0 }
        for task in late.sorted(by: { $0.timestamp < $1.timestamp }) {
            let missing = slices.values.filter { $0.task == task.timestamp }.sorted { $0.index < $1.index }
                .map(\.server.description)
            fail(task, RequestError(
                code: .timeout, peer: missing.joined(separator: ", "),
                message: "did not answer \(task.kind) \(task.timestamp) (\(task.keyCount) keys) within \(settings.deadlines.request.secondsText)"), io: io)
        }
        resendUnanswered(now: now, io: io)
        for (id, barrier) in barrierWaiters where barrier.deadline < now {
            barrierWaiters[id] = nil
            barrier.continuation.resume(throwing: RequestError(
                code: .timeout, peer: "manager (\(settings.managerEndpoint))",
                message: "did not release barrier '\(barrier.name)' within \(settings.deadlines.barrier.secondsText)"))
        }
    }

    public func stopped(error: (any Error)?) {
        if let error { outcome.fail("\(settings.name) stopped: \(error)") }
        let reason = RequestError(
            code: .shuttingDown, peer: settings.name, message: outcome.failure ?? "the worker stopped")
        for task in tasks.values.sorted(by: { $0.timestamp < $1.timestamp }) { fail(task, reason, io: nil) }
        for waiter in registrationWaiters { waiter.resume(throwing: reason) }
        registrationWaiters.removeAll()
        for barrier in barrierWaiters.values { barrier.continuation.resume(throwing: reason) }
        barrierWaiters.removeAll()
    }

    public func received(_ frames: [Frame], from peer: PeerAddress, io: any TransportIO) {
        let message: Message
        do {
            message = try MessageCodec.decode(frames, limits: settings.limits)
        } catch {
            logger.warning("\(settings.name) dropped a malformed message from \(peer): \(error)")
            return
        }
        if peer == link.manager {
            perform(io) { try handleManager(message, io: io) }
        } else {
            handleReply(message, from: peer, io: io)
        }
    }

    private func perform(_ io: any TransportIO, _ body: () throws -> Void) {
        do {
            try body()
        } catch {
            outcome.fail("\(error)")
            io.stop()
        }
    }

    private func handleManager(_ message: Message, io: any TransportIO) throws {
        switch try link.handle(message, io: io) {
        case .nodeTable(let table):
            routes = table.nodes(withRole: .server)
                .flatMap { server in server.ranges.map { Route(range: $0, server: server) } }
                .sorted { $0.range.lowerBound < $1.range.lowerBound }
            for waiter in registrationWaiters { waiter.resume(returning: table) }
            registrationWaiters.removeAll()
        case .shutdown:
            stopping = true
            io.stop()
        case .message(let message) where message.header.kind == .barrierRelease:
            if let barrier = barrierWaiters.removeValue(forKey: message.header.requestID) {
                barrier.continuation.resume()
            }
        case .message(let message):
            logger.warning("\(settings.name) ignored a \(message.header.kind) message from the manager")
        case nil:
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
        _ request: Request, timestamp: Timestamp, after: [Timestamp], consistency: ConsistencyModel?, io: any TransportIO
    ) {
        let task = Task(timestamp: timestamp, request: request)
        tasks[timestamp] = task
        let submitted: (timestamp: Timestamp, actions: [EngineAction])
        do {
            submitted = try engine.submit(EngineTask(
                table: request.table.id, after: after, consistency: consistency, iteration: request.iteration))
        } catch {
            // Unreachable while Worker checks what the engine checks; the timestamp is used up all the
            // same so that the two counters stay equal.
            _ = try? engine.submit(EngineTask(table: .max, consistency: .eventual))
            _ = engine.finished(timestamp)
            fail(task, RequestError(code: .invalidRequest, peer: settings.name, message: "\(error)"), io: io)
            return
        }
        assert(submitted.timestamp == timestamp, "worker and engine disagree on timestamps")
        perform(submitted.actions, io: io)
    }

    private func perform(_ actions: [EngineAction], io: any TransportIO) {
        for action in actions {
            switch action {
            case .start(let timestamp):
                if let task = tasks[timestamp] { start(task, io: io) }
            case .complete, .runCallback:
                break  // `finish` resumes the waiters; this shell attaches no callback ids
            }
        }
    }

    /// One request to one server.
    private struct OutgoingSlice {
        var server: NodeInfo
        var keys: Frame
        var values: Frame?
        var keyCount: Int
    }

    private func start(_ task: Task, io: any TransportIO) {
        guard let request = task.request else { return }
        task.request = nil
        task.deadline = io.now + settings.deadlines.request
        let outgoing: [OutgoingSlice]
        do {
            outgoing = try slices(of: request)
        } catch {
            fail(task, error, io: io)
            return
        }
        task.remaining = outgoing.count
        task.sliceValues = Array(repeating: nil, count: outgoing.count)
        task.sliceKeyCounts = outgoing.map(\.keyCount)
        task.sliceServers = outgoing.map(\.server)
        if outgoing.isEmpty {
            complete(task, io: io)
            return
        }
        for (index, slice) in outgoing.enumerated() {
            let requestID = nextRequestIDs[slice.server.id, default: 1]
            nextRequestIDs[slice.server.id] = requestID + 1
            var header = Header(
                kind: request.kind, sender: link.nodeID, requestID: requestID, table: request.table.id,
                timestamp: task.timestamp.rawValue, flags: request.wantClock ? .wantClock : [],
                keyCount: UInt32(slice.keyCount), valueLength: UInt32(request.table.valueLength), updater: request.updater)
            header.iteration = request.iteration
            let sent = SentSlice(
                task: task.timestamp, index: index, server: slice.server, header: header,
                payload: [slice.keys] + (slice.values.map { [$0] } ?? []), sentAt: io.now)
            slices[SliceKey(server: slice.server.id, requestID: requestID)] = sent
            do {
                try io.send([HeaderCodec.encode(header)] + sent.payload, to: .endpoint(slice.server.endpoint))
            } catch {
                fail(task, RequestError(code: .internalError, peer: slice.server.description, message: "could not send: \(error)"), io: io)
                return
            }
        }
    }

    /// The request split by server range. A push to a `bsp` iteration goes to every server, with no
    /// keys where it has none, so that each server can tell when the iteration is complete.
    private func slices(of request: Request) throws(RequestError) -> [OutgoingSlice] {
        let parts = split(request.keys)
        if let uncovered = parts.uncovered {
            throw RequestError(code: .keyOutOfRange, peer: settings.name, message: "key \(uncovered) lies outside every server's range")
        }
        let width = request.table.valueLength
        let whole = parts.slices.count == 1
        func slice(_ keys: Range<Int>, _ server: NodeInfo) -> OutgoingSlice {
            OutgoingSlice(
                server: server,
                keys: whole ? Frame(array: request.keys) : WorkerCore.copy(request.keys, keys),
                values: request.values.map { values in
                    whole ? Frame(array: values) : WorkerCore.copy(values, (keys.lowerBound * width)..<(keys.upperBound * width))
                },
                keyCount: keys.count)
        }
        guard request.kind == .push, request.iteration != nil else {
            return parts.slices.map { slice($0.keys, $0.server) }
        }
        var servers: [NodeInfo] = []
        for route in routes where !servers.contains(where: { $0.id == route.server.id }) { servers.append(route.server) }
        return servers.map { server in
            let mine = parts.slices.filter { $0.server.id == server.id }.map(\.keys)
            if mine.count == 1 { return slice(mine[0], server) }
            // No keys, or keys from several ranges of one server: one message all the same.
            let keys = mine.flatMap { request.keys[$0] }
            let values = request.values.map { values in mine.flatMap { values[($0.lowerBound * width)..<($0.upperBound * width)] } }
            return OutgoingSlice(server: server, keys: Frame(array: keys), values: values.map { Frame(array: $0) }, keyCount: keys.count)
        }
    }

    private static func copy<Element: BitwiseCopyable & Sendable>(_ array: [Element], _ range: Range<Int>) -> Frame {
        array.withUnsafeBufferPointer { PayloadFrame<Element>(copying: UnsafeBufferPointer(rebasing: $0[range])).frame }
    }

    private func split(_ keys: [UInt64]) -> (slices: [(keys: Range<Int>, server: NodeInfo)], uncovered: UInt64?) {
        var result: [(keys: Range<Int>, server: NodeInfo)] = []
        var index = 0
        keys.withUnsafeBufferPointer { buffer in
            for route in routes where index < buffer.count {
                guard route.range.contains(buffer[index]) else {
                    if buffer[index] < route.range.lowerBound { break }
                    continue
                }
                let end = KeyFrameSearch.firstIndex(
                    in: UnsafeRawBufferPointer(buffer), count: buffer.count, notBelow: route.range.upperBound, from: index)
                result.append((index..<end, route.server))
                index = end
            }
        }
        return (result, index < keys.count ? keys[index] : nil)
    }

    /// Sends again, with the same id and the `retry` flag, every slice unanswered for a retry interval.
    private func resendUnanswered(now: ContinuousClock.Instant, io: any TransportIO) {
        let interval = retryInterval
        for (key, slice) in slices where slice.sentAt + interval < now {
            var header = slice.header
            header.flags.insert(.retry)
            slices[key]?.sentAt = now
            retriedSlices += 1
            do {
                try io.send([HeaderCodec.encode(header)] + slice.payload, to: .endpoint(slice.server.endpoint))
            } catch {
                logger.warning("\(settings.name) could not resend request \(key.requestID) to \(slice.server): \(error)")
            }
        }
    }

    private func handleReply(_ message: Message, from peer: PeerAddress, io: any TransportIO) {
        let header = message.header
        guard
            let sent = slices.removeValue(forKey: SliceKey(server: header.sender, requestID: header.requestID)),
            let task = tasks[sent.task]
        else {
            logger.debug("\(settings.name) ignored a reply to unknown request \(header.requestID) from \(peer)")
            return
        }
        let timestamp = sent.task
        let index = sent.index
        let server = sent.server
        switch header.kind {
        case .error:
            fail(task, RequestError(
                code: header.errorCode ?? .internalError, peer: server.description,
                message: header.errorMessage ?? "refused \(task.kind) \(timestamp)"), io: io)
            return
        case .pushAck where task.kind == .push:
            break
        case .pullReply where task.kind == .pull:
            guard message.valueCount == task.sliceKeyCounts[index] * task.valueLength else {
                fail(task, RequestError(
                    code: .sizeMismatch, peer: server.description,
                    message: "answered pull \(timestamp) with \(message.valueCount) values, expected \(task.sliceKeyCounts[index] * task.valueLength)"), io: io)
                return
            }
            task.sliceValues[index] = message.values
            if let clock = header.clock {
                task.clock = task.clock.map { WorkerCore.minimum($0, clock) } ?? clock
            } else {
                task.clockMissing = true
            }
        default:
            fail(task, RequestError(
                code: .invalidRequest, peer: server.description,
                message: "answered \(task.kind) \(timestamp) with a \(header.kind) message"), io: io)
            return
        }
        task.remaining -= 1
        if task.remaining == 0 { complete(task, io: io) }
    }

    /// The elementwise minimum of two servers' clocks; a server whose clock is shorter has not heard
    /// from the nodes beyond it, so their entries count as 0.
    private static func minimum(_ a: [Int64], _ b: [Int64]) -> [Int64] {
        guard a.count != b.count else { return VectorClock.elementwiseMinimum(a, b) }
        let (short, long) = a.count < b.count ? (a, b) : (b, a)
        return VectorClock.elementwiseMinimum(short, Array(long.prefix(short.count))) + Array(repeating: 0, count: long.count - short.count)
    }

    private func complete(_ task: Task, io: any TransportIO) {
        if let pull = task.pull {
            let total = task.keyCount * task.valueLength
            let values = [Float](unsafeUninitializedCapacity: total) { buffer, initialized in
                var offset = 0
                for (frame, keys) in zip(task.sliceValues, task.sliceKeyCounts) {
                    let bytes = 4 * keys * task.valueLength
                    if bytes > 0, let frame {
                        frame.withUnsafeBytes { raw in
                            UnsafeMutableRawPointer(buffer.baseAddress! + offset).copyMemory(from: raw.baseAddress!, byteCount: bytes)
                        }
                    }
                    offset += keys * task.valueLength
                }
                initialized = total
            }
            // A clock is only meaningful when every server that was read sent one.
            pull.finish(.success(PulledValues(values: values, clock: task.clockMissing ? nil : task.clock, timestamp: task.timestamp)))
            task.pull = nil
        }
        finish(task, outcome: .succeeded, io: io)
    }

    private func fail(_ task: Task, _ error: RequestError, io: (any TransportIO)?) {
        guard tasks[task.timestamp] != nil else { return }
        task.error = error
        slices = slices.filter { $0.value.task != task.timestamp }
        task.pull?.finish(.failure(error))
        task.pull = nil
        failures[task.timestamp] = error
        finish(task, outcome: .failed(WireError(error.code, field: "k", error.message)), io: io)
    }

    /// Marks the task finished in the engine, resumes its waiters, and starts what it released.
    /// Without `io` (the loop has stopped) nothing is started.
    private func finish(_ task: Task, outcome: TaskOutcome, io: (any TransportIO)?) {
        tasks[task.timestamp] = nil
        let actions = engine.finished(task.timestamp, outcome: outcome)
        let waiters = task.waiters
        task.waiters.removeAll()
        for waiter in waiters { waiter(task.error) }
        if let io { perform(actions, io: io) }
    }

    /// Resumes `continuation` once the task `timestamp` finished (at once if it already has).
    func whenFinished(_ timestamp: Timestamp, _ continuation: VoidContinuation) {
        if let task = tasks[timestamp] {
            task.waiters.append { error in
                if let error { continuation.resume(throwing: error) } else { continuation.resume() }
            }
        } else if let error = failures.removeValue(forKey: timestamp) {
            continuation.resume(throwing: error)
        } else {
            continuation.resume()
        }
    }

    /// Runs `callback` here once task `timestamp` finished (at once if it has), with its error.
    func whenFinished(_ timestamp: Timestamp, run callback: @escaping (RequestError?) -> Void) {
        if let task = tasks[timestamp] {
            task.waiters.append(callback)
        } else {
            callback(failures[timestamp])
        }
    }

    /// Resumes `continuation` once every task up to `last` has finished; throws the first failure.
    func whenAllFinished(upTo last: Timestamp, _ continuation: VoidContinuation) {
        let open = tasks.keys.filter { $0 <= last }
        var remaining = open.count
        var firstError: RequestError?
        let settle = { [self] in
            let failed = failures.filter { $0.key <= last }
            for key in failed.keys { failures[key] = nil }
            if let error = firstError ?? failed.min(by: { $0.key < $1.key })?.value {
                continuation.resume(throwing: error)
            } else {
                continuation.resume()
            }
        }
        guard remaining > 0 else { return settle() }
        for timestamp in open {
            tasks[timestamp]?.waiters.append { error in
                if firstError == nil, let error { firstError = error }
                remaining -= 1
                if remaining == 0 { settle() }
            }
        }
    }

    func barrier(_ name: String, continuation: VoidContinuation, io: any TransportIO) {
        let id = link.makeRequestID()
        barrierWaiters[id] = (name, continuation, io.now + settings.deadlines.barrier)
        do {
            try link.send(Header(kind: .barrier, requestID: id, name: name), io: io)
        } catch {
            barrierWaiters[id] = nil
            continuation.resume(throwing: error)
        }
    }

    func reportDone(summary: String, failure: String?, io: any TransportIO) {
        perform(io) {
            try link.send(
                Header(
                    kind: .workerDone, requestID: link.makeRequestID(), name: summary,
                    errorCode: failure == nil ? nil : .internalError, errorMessage: failure),
                io: io)
        }
    }
}
