import Logging
import ZeroMQ

/// A worker's logic on its I/O thread: membership through a ``ManagerLink``, and the requests in
/// flight. The application talks to it through ``Worker``, whose calls are queued onto this thread.
///
/// A request is sliced by server range; the slices go out at once and the replies are merged. Every
/// request carries a deadline: one that passes fails the request with an error naming the server
/// that did not answer.
public final class WorkerCore: TransportHandler {
    typealias PullContinuation = CheckedContinuation<[Float], any Error>
    typealias VoidContinuation = CheckedContinuation<Void, any Error>

    /// One server's share of the key space.
    struct Route {
        var range: KeyRange
        var server: NodeInfo
    }

    private final class Task {
        let timestamp: Timestamp
        let kind: MessageKind
        let valueLength: Int
        let deadline: ContinuousClock.Instant
        var remaining: Int
        /// Pull replies by slice, merged in key order when the last arrives.
        var sliceValues: [Frame?]
        var sliceKeyCounts: [Int]
        var sliceServers: [NodeInfo]
        var pull: PullContinuation?
        var waiters: [(RequestError?) -> Void] = []
        var error: RequestError?
        let keyCount: Int

        init(timestamp: Timestamp, kind: MessageKind, valueLength: Int, keyCount: Int, deadline: ContinuousClock.Instant) {
            self.timestamp = timestamp
            self.kind = kind
            self.valueLength = valueLength
            self.keyCount = keyCount
            self.deadline = deadline
            remaining = 0
            sliceValues = []
            sliceKeyCounts = []
            sliceServers = []
        }
    }

    private var link: ManagerLink
    private let logger: Logger
    private let outcome: NodeOutcome
    private(set) var routes: [Route] = []
    private var tasks: [Timestamp: Task] = [:]
    private var slices: [UInt64: (task: Timestamp, slice: Int)] = [:]
    private var nextRequestID: UInt64 = 1
    /// Every timestamp below this has finished; finished ones above it are in `finishedAbove`.
    private var finishedBelow = Timestamp(1)
    private var finishedAbove: Set<Timestamp> = []
    private var failures: [Timestamp: RequestError] = [:]
    private var registrationWaiters: [CheckedContinuation<NodeTable, any Error>] = []
    private var barrierWaiters: [UInt64: (name: String, continuation: VoidContinuation, deadline: ContinuousClock.Instant)] = [:]
    private var stopping = false

    /// Creates the worker logic; `outcome` receives the reason it stopped.
    public init(settings: NodeSettings, outcome: NodeOutcome, logger: Logger) {
        self.link = ManagerLink(settings: settings, logger: logger)
        self.outcome = outcome
        self.logger = logger
    }

    var settings: NodeSettings { link.settings }

    // MARK: TransportHandler

    public func start(io: any TransportIO) {
        perform(io) { try link.start(io: io) }
    }

    public func tick(io: any TransportIO) {
        perform(io) { try link.tick(io: io) }
        let now = io.now
        let late = tasks.values.filter { $0.deadline < now && $0.remaining > 0 }
        for task in late.sorted(by: { $0.timestamp < $1.timestamp }) {
            let missing = zip(task.sliceServers, task.sliceValues.indices).filter { server, index in
                slices.values.contains { $0.task == task.timestamp && $0.slice == index }
            }.map(\.0.description)
            fail(task, RequestError(
                code: .timeout, peer: missing.joined(separator: ", "),
                message: "did not answer \(task.kind) \(task.timestamp) (\(task.keyCount) keys) within \(settings.deadlines.request.secondsText)"))
        }
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
        for task in tasks.values { fail(task, reason) }
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
            handleReply(message, from: peer)
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

    /// Sends a push or pull of `keys` (sorted, validated by the caller) split over the servers.
    func submit(
        _ kind: MessageKind, timestamp: Timestamp, table: TableSpec, keys: [UInt64], values: [Float]?,
        updater: String?, pull: PullContinuation?, io: any TransportIO
    ) {
        let task = Task(
            timestamp: timestamp, kind: kind, valueLength: table.valueLength, keyCount: keys.count,
            deadline: io.now + settings.deadlines.request)
        task.pull = pull
        tasks[timestamp] = task
        let parts = split(keys)
        if let uncovered = parts.uncovered {
            fail(task, RequestError(
                code: .keyOutOfRange, peer: settings.name,
                message: "key \(uncovered) lies outside every server's range"))
            return
        }
        task.remaining = parts.slices.count
        task.sliceValues = Array(repeating: nil, count: parts.slices.count)
        task.sliceKeyCounts = parts.slices.map(\.keys.count)
        task.sliceServers = parts.slices.map(\.server)
        if parts.slices.isEmpty {
            complete(task)
            return
        }
        let whole = parts.slices.count == 1
        for (index, slice) in parts.slices.enumerated() {
            let requestID = nextRequestID
            nextRequestID += 1
            slices[requestID] = (timestamp, index)
            let header = Header(
                kind: kind, sender: link.nodeID, requestID: requestID, table: table.id,
                timestamp: timestamp.rawValue, keyCount: UInt32(slice.keys.count),
                valueLength: UInt32(table.valueLength), updater: updater)
            let keyFrame = whole ? Frame(array: keys) : WorkerCore.copy(keys, slice.keys)
            var valueFrame: Frame?
            if let values {
                let width = table.valueLength
                valueFrame = whole
                    ? Frame(array: values)
                    : WorkerCore.copy(values, (slice.keys.lowerBound * width)..<(slice.keys.upperBound * width))
            }
            do {
                try io.send(
                    MessageCodec.encode(Message(header: header, keys: keyFrame, values: valueFrame)),
                    to: .endpoint(slice.server.endpoint))
            } catch {
                slices[requestID] = nil
                fail(task, RequestError(code: .internalError, peer: slice.server.description, message: "could not send: \(error)"))
                return
            }
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

    private func handleReply(_ message: Message, from peer: PeerAddress) {
        let header = message.header
        guard let (timestamp, index) = slices.removeValue(forKey: header.requestID), let task = tasks[timestamp] else {
            logger.debug("\(settings.name) ignored a reply to unknown request \(header.requestID) from \(peer)")
            return
        }
        let server = task.sliceServers[index]
        switch header.kind {
        case .error:
            fail(task, RequestError(
                code: header.errorCode ?? .internalError, peer: server.description,
                message: header.errorMessage ?? "refused \(task.kind) \(timestamp)"))
            return
        case .pushAck where task.kind == .push:
            break
        case .pullReply where task.kind == .pull:
            guard message.valueCount == task.sliceKeyCounts[index] * task.valueLength else {
                fail(task, RequestError(
                    code: .sizeMismatch, peer: server.description,
                    message: "answered pull \(timestamp) with \(message.valueCount) values, expected \(task.sliceKeyCounts[index] * task.valueLength)"))
                return
            }
            task.sliceValues[index] = message.values
        default:
            fail(task, RequestError(
                code: .invalidRequest, peer: server.description,
                message: "answered \(task.kind) \(timestamp) with a \(header.kind) message"))
            return
        }
        task.remaining -= 1
        if task.remaining == 0 { complete(task) }
    }

    private func complete(_ task: Task) {
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
            pull.resume(returning: values)
            task.pull = nil
        }
        finish(task)
    }

    private func fail(_ task: Task, _ error: RequestError) {
        guard tasks[task.timestamp] != nil else { return }
        task.error = error
        slices = slices.filter { $0.value.task != task.timestamp }
        task.pull?.resume(throwing: error)
        task.pull = nil
        failures[task.timestamp] = error
        finish(task)
    }

    private func finish(_ task: Task) {
        tasks[task.timestamp] = nil
        finishedAbove.insert(task.timestamp)
        while finishedAbove.remove(finishedBelow) != nil {
            finishedBelow = Timestamp(finishedBelow.rawValue + 1)
        }
        let waiters = task.waiters
        task.waiters.removeAll()
        for waiter in waiters { waiter(task.error) }
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
