import Logging
import Synchronization
import ZeroMQ

/// The application's handle on a worker node: push gradients, pull weights, wait, meet at barriers.
///
/// Calls may come from any task; each is validated on the caller's thread and then queued onto the
/// node's I/O thread, where ``WorkerCore`` slices it by server range and sends the slices at once.
/// `push` returns as soon as the request is on its way; ``wait(_:)`` tells when it was applied.
public final class Worker: Sendable {
    private let transport: ZMQTransport<WorkerCore>
    private let clock = Mutex<Int64>(0)
    /// The node's settings.
    public let settings: NodeSettings
    private let tablesByName: [String: TableSpec]
    private let tablesByID: [UInt32: TableSpec]

    init(transport: ZMQTransport<WorkerCore>, settings: NodeSettings) {
        self.transport = transport
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
            enqueue(continuation) { core, _ in core.whenRegistered(continuation) }
        }
    }

    private func nextTimestamp() -> Timestamp {
        Timestamp(clock.withLock { value in
            value += 1
            return value
        })
    }

    /// The newest timestamp this worker issued.
    public var latestTimestamp: Timestamp { Timestamp(clock.withLock { $0 }) }

    /// Sends `values` (`valueLength` floats per key) for the sorted, unique `keys` of `table`, to be
    /// folded in by the table's updater (or `updater`), and returns the task's timestamp at once.
    @discardableResult
    public func push(table id: UInt32, keys: [UInt64], values: [Float], updater: String? = nil) async throws -> Timestamp {
        let spec = try table(id)
        try validate(keys: keys)
        guard values.count == keys.count * spec.valueLength else {
            throw RequestError(
                code: .sizeMismatch, peer: settings.name,
                message: "push to '\(spec.name)' has \(values.count) values for \(keys.count) keys × \(spec.valueLength)")
        }
        let timestamp = nextTimestamp()
        let accepted = transport.execute { core, io in
            core.submit(.push, timestamp: timestamp, table: spec, keys: keys, values: values, updater: updater, pull: nil, io: io)
        }
        guard accepted else { throw stoppedError }
        return timestamp
    }

    /// Reads the values of the sorted, unique `keys` of `table`: `valueLength` floats per key, in key order.
    public func pull(table id: UInt32, keys: [UInt64]) async throws -> [Float] {
        let spec = try table(id)
        try validate(keys: keys)
        let timestamp = nextTimestamp()
        return try await withCheckedThrowingContinuation { continuation in
            enqueue(continuation) { core, io in
                core.submit(.pull, timestamp: timestamp, table: spec, keys: keys, values: nil, updater: nil, pull: continuation, io: io)
            }
        }
    }

    /// Waits until the task `timestamp` has been applied by every server it went to; throws its error.
    public func wait(_ timestamp: Timestamp) async throws {
        try await withCheckedThrowingContinuation { continuation in
            enqueue(continuation) { core, _ in core.whenFinished(timestamp, continuation) }
        }
    }

    /// Waits until every task issued so far has finished; throws the first failure among them.
    public func waitForAll() async throws {
        let last = latestTimestamp
        try await withCheckedThrowingContinuation { continuation in
            enqueue(continuation) { core, _ in core.whenAllFinished(upTo: last, continuation) }
        }
    }

    /// Waits until every worker has reached the barrier `name`.
    public func barrier(_ name: String) async throws {
        try await withCheckedThrowingContinuation { continuation in
            enqueue(continuation) { core, io in core.barrier(name, continuation: continuation, io: io) }
        }
    }

    /// Tells the manager this worker's application ended, with a one-line summary or a failure.
    public func reportDone(summary: String, failure: String? = nil) {
        transport.execute { core, io in core.reportDone(summary: summary, failure: failure, io: io) }
    }

    /// Stops the worker's I/O loop (after a signal); requests in flight fail.
    public func stop() {
        transport.stop()
    }

    private var stoppedError: RequestError {
        RequestError(code: .shuttingDown, peer: settings.name, message: "the worker has stopped")
    }

    /// Queues `work`, or fails `continuation` at once when the I/O loop has already ended.
    private func enqueue<T>(_ continuation: CheckedContinuation<T, any Error>, _ work: @escaping ZMQTransport<WorkerCore>.Work) {
        if !transport.execute(work) { continuation.resume(throwing: stoppedError) }
    }

    private func validate(keys: [UInt64]) throws {
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
    }
}
