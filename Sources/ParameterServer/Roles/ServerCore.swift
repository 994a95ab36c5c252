import Logging
import ZeroMQ

/// A server's logic on its I/O thread: membership through a ``ManagerLink``, then pushes and pulls
/// against the ``RangeStore``s of the ranges the manager assigned it.
///
/// Every request is validated completely before any value is touched, so a malformed or hostile
/// message gets an error reply and changes nothing.
public final class ServerCore: TransportHandler {
    private struct Table {
        var spec: TableSpec
        var updater: any Updater
        var stores: [RangeStore]
    }

    private var link: ManagerLink
    private let registry: UpdaterRegistry
    private let logger: Logger
    private let outcome: NodeOutcome
    private var tables: [UInt32: Table] = [:]
    private var updaterCache: [String: any Updater] = [:]
    /// Requests that arrived before the node table (bounded).
    private var early: [([Frame], PeerAddress)] = []
    private var shuttingDown = false
    /// Counters for logs and tests.
    private(set) var rejectedRequests = 0

    /// Creates the server logic; `outcome` receives the reason it stopped.
    public init(settings: NodeSettings, registry: UpdaterRegistry = .builtIn, outcome: NodeOutcome, logger: Logger) {
        self.link = ManagerLink(settings: settings, logger: logger)
        self.registry = registry
        self.outcome = outcome
        self.logger = logger
    }

    public func start(io: any TransportIO) {
        perform(io) { try link.start(io: io) }
    }

    public func tick(io: any TransportIO) {
        perform(io) { try link.tick(io: io) }
    }

    public func stopped(error: (any Error)?) {
        if let error { outcome.fail("\(link.settings.name) stopped: \(error)") }
    }

    public func received(_ frames: [Frame], from peer: PeerAddress, io: any TransportIO) {
        if peer == link.manager {
            perform(io) { try handleManager(frames, io: io) }
            return
        }
        guard link.isRegistered else {
            if early.count < 10_000 { early.append((frames, peer)) } else {
                reject(frames, from: peer, io: io, WireError(.shuttingDown, field: "k", "server is not ready yet and its backlog is full"))
            }
            return
        }
        serve(frames, from: peer, io: io)
    }

    private func perform(_ io: any TransportIO, _ body: () throws -> Void) {
        do {
            try body()
        } catch {
            outcome.fail("\(error)")
            io.stop()
        }
    }

    private func handleManager(_ frames: [Frame], io: any TransportIO) throws {
        let message = try MessageCodec.decode(frames, limits: link.settings.limits)
        switch try link.handle(message, io: io) {
        case .nodeTable(let table):
            try configure(table)
            let backlog = early
            early.removeAll()
            for (frames, peer) in backlog { serve(frames, from: peer, io: io) }
        case .shutdown:
            shuttingDown = true
            logger.info("\(link.settings.name) shutting down at the manager's request")
            io.stop()
        case .message(let message):
            logger.warning("\(link.settings.name) ignored a \(message.header.kind) message from the manager")
        case nil:
            break
        }
    }

    /// Creates the stores for the ranges this server owns in `table` (the first table fixes them).
    private func configure(_ table: NodeTable) throws {
        guard tables.isEmpty else { return }
        guard let me = table.node(link.nodeID) else { return }
        for spec in link.settings.tables {
            let updater: any Updater
            do {
                updater = try registry.make(spec.updater, options: UpdaterOptions(spec.updaterOptions))
            } catch {
                throw NodeFailure("table '\(spec.name)': \(error)")
            }
            let stores = me.ranges.map { RangeStore(range: $0, valueLength: spec.valueLength, updater: updater) }
            tables[spec.id] = Table(spec: spec, updater: updater, stores: stores)
        }
        logger.info("\(link.settings.name) serves \(me.ranges.map(\.description).joined(separator: ", ")) of \(tables.count) table(s)")
    }

    // MARK: - Data requests

    private func serve(_ frames: [Frame], from peer: PeerAddress, io: any TransportIO) {
        let message: Message
        do {
            message = try MessageCodec.decode(frames, limits: link.settings.limits)
        } catch {
            reject(frames, from: peer, io: io, error)
            return
        }
        do {
            let reply = try handle(message)
            try io.send(MessageCodec.encode(reply), to: peer)
        } catch let error as WireError {
            reply(error, to: message.header, peer: peer, io: io)
        } catch let error as StorageError {
            reply(WireError(error.code, field: "u", error.message), to: message.header, peer: peer, io: io)
        } catch {
            logger.warning("\(link.settings.name) could not answer \(peer): \(error)")
        }
    }

    private func handle(_ message: Message) throws -> Message {
        let header = message.header
        if shuttingDown { throw WireError(.shuttingDown, field: "k", "the server is shutting down") }
        switch header.kind {
        case .push, .pull:
            guard let table = tables[header.table] else {
                throw WireError(.unknownTable, field: "t", "no table with id \(header.table); tables: \(tables.keys.sorted())")
            }
            guard Int(header.valueLength) == table.spec.valueLength else {
                throw WireError(
                    .sizeMismatch, field: "vl",
                    "table '\(table.spec.name)' holds \(table.spec.valueLength) floats per key, the request says \(header.valueLength)")
            }
            if header.flags.contains(.rangeRequest) {
                guard header.kind == .pull, let range = header.keyRange else {
                    throw WireError(.invalidRequest, field: "f", "only a pull may name a key range instead of keys")
                }
                return try pullRange(range, message: message, table: table)
            }
            let slices = try split(message, over: table.stores)
            if header.kind == .push {
                return try push(message, table: table, slices: slices)
            }
            return pull(message, table: table, slices: slices)
        case .heartbeat:
            return Message(header: Header(kind: .heartbeat, sender: link.nodeID, requestID: header.requestID))
        default:
            throw WireError(.unknownKind, field: "k", "a server does not accept \(header.kind) messages")
        }
    }

    /// The part of the request's (sorted) keys each store holds; throws if any key lies outside them all.
    private func split(_ message: Message, over stores: [RangeStore]) throws -> [(store: RangeStore, keys: Range<Int>)] {
        let count = message.keyCount
        guard count > 0, let keys = message.keys else { return [] }
        return try keys.withUnsafeBytes { raw in
            var result: [(RangeStore, Range<Int>)] = []
            var index = 0
            for store in stores where index < count {
                let key = raw.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self)
                guard store.range.contains(key) else { continue }
                let end = KeyFrameSearch.firstIndex(in: raw, count: count, notBelow: store.range.upperBound, from: index)
                result.append((store, index..<end))
                index = end
            }
            if index < count {
                let key = raw.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self)
                let owned = stores.map(\.range.description).joined(separator: ", ")
                throw WireError(.keyOutOfRange, field: "frame 1 (keys)", "key \(key) is not in this server's ranges \(owned)")
            }
            return result
        }
    }

    private func updater(named name: String?, table: Table) throws -> any Updater {
        guard let name, name != table.updater.name else { return table.updater }
        if let cached = updaterCache[name] { return cached }
        let made = try registry.make(name)
        updaterCache[name] = made
        return made
    }

    private func push(_ message: Message, table: Table, slices: [(store: RangeStore, keys: Range<Int>)]) throws -> Message {
        let updater = try updater(named: message.header.updater, table: table)
        for (store, _) in slices { try store.check(updater: updater) }
        let width = table.spec.valueLength
        message.keys?.withUnsafeBytes { keys in
            message.values?.withUnsafeBytes { values in
                for (store, range) in slices {
                    store.push(
                        keys: keys.baseAddress! + 8 * range.lowerBound, count: range.count,
                        values: values.baseAddress! + 4 * width * range.lowerBound, updater: updater)
                }
            }
        }
        let header = message.header
        return Message(header: Header(
            kind: .pushAck, sender: link.nodeID, requestID: header.requestID, table: header.table,
            timestamp: header.timestamp, keyCount: header.keyCount, valueLength: header.valueLength))
    }

    private func pull(_ message: Message, table: Table, slices: [(store: RangeStore, keys: Range<Int>)]) -> Message {
        let width = table.spec.valueLength
        let count = message.keyCount
        let values = Frame.allocate(count: 4 * width * count) { output in
            message.keys?.withUnsafeBytes { keys in
                for (store, range) in slices {
                    store.pull(
                        keys: keys.baseAddress! + 8 * range.lowerBound, count: range.count,
                        into: output.baseAddress! + 4 * width * range.lowerBound)
                }
            }
        }
        let header = message.header
        return Message(
            header: Header(
                kind: .pullReply, sender: link.nodeID, requestID: header.requestID, table: header.table,
                timestamp: header.timestamp, keyCount: header.keyCount, valueLength: header.valueLength),
            values: values)
    }

    /// Every stored key of `range` and its values (all keys when the store is dense).
    private func pullRange(_ range: KeyRange, message: Message, table: Table) throws -> Message {
        guard table.stores.contains(where: { $0.range.contains(range) }) || range.isEmpty else {
            let owned = table.stores.map(\.range.description).joined(separator: ", ")
            throw WireError(.keyOutOfRange, field: "r", "range \(range) is not inside one of this server's ranges \(owned)")
        }
        var keys: [UInt64] = []
        var values: [Float] = []
        for store in table.stores {
            let part = store.snapshot(of: range)
            keys += part.keys
            values += part.values
        }
        guard keys.count <= link.settings.limits.maxKeysPerMessage else {
            throw WireError(
                .tooLarge, field: "r",
                "range \(range) holds \(keys.count) keys, more than \(link.settings.limits.maxKeysPerMessage) per message; pull smaller ranges")
        }
        let header = message.header
        return Message(
            header: Header(
                kind: .pullReply, sender: link.nodeID, requestID: header.requestID, table: header.table,
                timestamp: header.timestamp, keyRange: range, flags: .rangeRequest, keyCount: UInt32(keys.count),
                valueLength: header.valueLength),
            keys: Frame(array: keys), values: Frame(array: values))
    }

    // MARK: - Errors

    private func reject(_ frames: [Frame], from peer: PeerAddress, io: any TransportIO, _ error: any Error) {
        let wireError = error as? WireError ?? WireError(.malformedFrame, field: "message", "\(error)")
        // Echo the request id when at least the header decodes, so the sender can match the error.
        let header = frames.first.flatMap { try? HeaderCodec.decode($0, limits: link.settings.limits) }
            ?? Header(kind: .error)
        reply(wireError, to: header, peer: peer, io: io)
    }

    private func reply(_ error: WireError, to header: Header, peer: PeerAddress, io: any TransportIO) {
        rejectedRequests += 1
        logger.warning("\(link.settings.name) rejected a request from \(peer): \(error)")
        do {
            try io.send(MessageCodec.encode(Message(header: header.errorReply(from: link.nodeID, error))), to: peer)
        } catch {
            logger.warning("\(link.settings.name) could not send an error reply to \(peer): \(error)")
        }
    }
}
