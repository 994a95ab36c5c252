import Logging
import ZeroMQ

/// A server's logic on its I/O thread: membership through a ``ManagerLink``, then pushes and pulls
/// against the ``RangeStore``s of the ranges the manager assigned it.
///
/// Every request is validated completely before any value is touched, so a malformed or hostile
/// message gets an error reply and changes nothing.
///
/// Pushes and pulls of the workers and clients in the node table pass through a
/// ``RequestDeduplicator``: each sender's requests are applied once, in the order of their request
/// ids (counted per sender and server), and a retry is answered again. Each table keeps a
/// ``VectorClock`` per range, returned to pulls that set ``MessageFlags/wantClock``; a `bsp` table
/// aggregates each iteration's pushes with a ``BSPAggregator`` (docs/CONSISTENCY.md).
public final class ServerCore: TransportHandler {
    private typealias Table = ServedTable

    /// A request of an ordered sender, as the deduplicator holds it until its turn.
    private struct Incoming: Sendable {
        var header: Header
        /// The decoded request, or why it could not be decoded (the id is consumed all the same).
        var request: Result<Message, WireError>
        var peer: PeerAddress
    }

    /// What a retry of an applied request gets: the same reply, or, for a pull, a fresh read (pull
    /// replies are not kept: they can be large, and reading again has no side effect).
    private enum KeptReply: Sendable {
        case message(Message)
        /// A plain acknowledgement, rebuilt from the retry's header (which repeats the request's).
        case acknowledged
        case readAgain
        /// The reply is held (until the replicas have the push, or a BSP iteration is complete) and
        /// will be sent then: a retry meanwhile is dropped.
        case pending
    }

    private var link: ManagerLink
    private let registry: UpdaterRegistry
    private let functions: RangeFunctionRegistry
    /// The communication filters of the tables (docs/PROTOCOL.md section 13).
    private var filters: ServerFilters
    private let logger: Logger
    private let outcome: NodeOutcome
    private var tables: [UInt32: Table] = [:]
    private var deduplicator = RequestDeduplicator<Incoming, KeptReply>()
    /// The workers and clients of the node table: senders whose requests are ordered and deduplicated.
    private var orderedSenders: Set<NodeID> = []
    /// Every node id of the node table.
    private var knownSenders: Set<NodeID> = []
    /// Requests of a sender the node table does not list yet: a client's first requests can overtake
    /// the table that admits it. Served in arrival order once it is listed; refused after a while.
    private var awaitingMembership: [(frames: [Frame], peer: PeerAddress, sender: NodeID, arrived: ContinuousClock.Instant)] = []
    private var updaterCache: [String: any Updater] = [:]
    /// Requests that arrived before the node table (bounded).
    private var early: [([Frame], PeerAddress)] = []
    private var shuttingDown = false
    /// This server's part in the replica chains of its ranges (docs/FAULT-TOLERANCE.md).
    private var replication = ChainReplication(me: .unassigned)
    /// The keys pushes changed since results last went down the chains.
    private var batch = ReplicationBatch()
    /// A batch this large goes down the chains without waiting for the input to run dry.
    private static let batchKeyLimit = 1 << 20
    /// Ranges being copied to new replicas, part by part between requests.
    private var copying: [RangeCopy] = []
    /// Copy parts sent each time the input runs dry (or each tick).
    private static let copyPartsPerTurn = 4
    /// The pushes whose results this server holds, by first identity: a push sent again after a
    /// fail-over that is already here is acknowledged, not applied twice.
    private var appliedOrigins = AppliedOrigins()
    /// The latest node table: where the other servers of the chains are.
    private var nodeTable: NodeTable?
    /// The version of the latest node table (0 before the first).
    private var tableVersion: UInt64 = 0
    /// Requests routed by a newer node table than this server has yet (`tv`): the manager sends a
    /// new table to every member at once, so a worker may act on it first. Served once the table
    /// comes; refused with `staleTable` after the heartbeat timeout (bounded).
    private var awaitingTable: [(frames: [Frame], peer: PeerAddress, version: UInt64, arrived: ContinuousClock.Instant)] = []
    /// Counters for logs and tests.
    private(set) var rejectedRequests = 0

    /// Creates the server logic; `outcome` receives the reason it stopped.
    public init(
        settings: NodeSettings, registry: UpdaterRegistry = .builtIn, functions: RangeFunctionRegistry = .builtIn,
        outcome: NodeOutcome, logger: Logger
    ) {
        self.link = ManagerLink(settings: settings, logger: logger)
        self.registry = registry
        self.functions = functions
        filters = ServerFilters(tables: settings.tables)
        self.outcome = outcome
        self.logger = logger
    }

    /// Once registered, a server's work is requests on its ROUTER; the manager's messages and a
    /// stop may wait for the next tick. Registration and shutdown wait on every socket.
    public var mainSocket: MainSocket? { link.isRegistered && !shuttingDown ? .router : nil }

    public func start(io: any TransportIO) {
        perform(io) { try link.start(io: io) }
    }

    public func tick(io: any TransportIO) {
        perform(io) { try link.tick(io: io) }
        flushReplication(io: io)
        if !copying.isEmpty { sendCopyParts(io: io) }
        let patience = link.settings.deadlines.heartbeatTimeout
        while let first = awaitingTable.first, first.arrived + patience < io.now {
            awaitingTable.removeFirst()
            reject(first.frames, from: first.peer, io: io, WireError(
                .staleTable, field: "tv", "no node table version \(first.version) reached this server (it has \(tableVersion))"))
        }
        while let first = awaitingMembership.first, first.arrived + patience < io.now {
            awaitingMembership.removeFirst()
            reject(first.frames, from: first.peer, io: io, WireError(
                .notRegistered, field: "s", "\(first.sender) is not in the node table"))
        }
    }

    public func stopped(error: (any Error)?) {
        if let error { outcome.fail("\(link.settings.name) stopped: \(error)") }
        for line in filters.report.lines { logger.notice("\(link.settings.name) filters: \(line)") }
        let traffic = replicationTraffic
        if traffic.keys > 0 {
            logger.notice("\(link.settings.name) replication: sent \(traffic.keys) keys, \(traffic.bytes) bytes to successors")
        }
    }

    /// The results this server sent down its replica chains: keys, and payload bytes (keys and
    /// entries frames, headers not counted), forwarded replicates and resends included.
    public var replicationTraffic: (keys: Int, bytes: Int) {
        (replication.replicatedKeys, replication.replicatedBytes)
    }

    /// The values this server holds for `range` of table `table`, as primary or as replica (`nil`
    /// when it holds no such store): how the simulator compares a chain's copies.
    func storedValues(table: UInt32, range: KeyRange, replica: Bool) -> [Float]? {
        guard let served = tables[table] else { return nil }
        let store = (replica ? served.replicas : served.stores).first { $0.range == range }
        return store?.snapshot(of: range).values
    }

    /// The ranges of `table` this server holds as primary and as replica.
    func heldRanges(table: UInt32) -> (primaries: [KeyRange], replicas: [KeyRange]) {
        guard let served = tables[table] else { return ([], []) }
        return (served.stores.map(\.range), served.replicas.map(\.range))
    }

    /// What the communication filters did to the requests this server received and the replies it sent.
    public var filterReport: FilterReport { filters.report }

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
        outcome.failing(stopping: io, body)
    }

    private func handleManager(_ frames: [Frame], io: any TransportIO) throws {
        let message = try MessageCodec.decode(frames, limits: link.settings.limits)
        switch try link.handle(message, io: io) {
        case .nodeTable(let table):
            try configure(table)
            update(table, io: io)
            try reconfigureChains(table, io: io)
            let backlog = early
            early.removeAll()
            for (frames, peer) in backlog { serve(frames, from: peer, io: io) }
            let ahead = awaitingTable
            awaitingTable.removeAll()
            for request in ahead { serve(request.frames, from: request.peer, io: io) }
            let waiting = awaitingMembership
            awaitingMembership.removeAll()
            for request in waiting {
                if knownSenders.contains(request.sender) {
                    serve(request.frames, from: request.peer, io: io)
                } else {
                    awaitingMembership.append(request)
                }
            }
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

    /// Creates the stores for the ranges this server holds in the first `table`, as primary or replica.
    private func configure(_ table: NodeTable) throws {
        guard tables.isEmpty else { return }
        guard let me = table.node(link.nodeID) else { return }
        replication = ChainReplication(me: link.nodeID)
        let replicaRanges = table.chains.filter { $0.predecessor(of: link.nodeID) != nil }.map(\.range)
            .sorted { $0.lowerBound < $1.lowerBound }
        for spec in link.settings.tables {
            if !table.chains.isEmpty, spec.consistency == .bsp {
                throw NodeFailure("table '\(spec.name)' is bsp: replication does not cover bsp tables yet (set replication: 0)")
            }
            let updater: any Updater
            do {
                updater = try registry.make(spec.updater, options: UpdaterOptions(spec.updaterOptions))
            } catch {
                throw NodeFailure("table '\(spec.name)': \(error)")
            }
            tables[spec.id] = Table(
                spec: spec, updater: updater, ranges: me.ranges, replicaRanges: replicaRanges,
                nodeCount: Int(table.nodes.map(\.id.rawValue).max() ?? 0) + 1,
                workers: Set(table.nodes(withRole: .worker).map(\.id)))
        }
        logger.info("\(link.settings.name) serves \(me.ranges.map(\.description).joined(separator: ", ")) of \(tables.count) table(s)")
        if !replicaRanges.isEmpty {
            logger.info("\(link.settings.name) holds replicas of \(replicaRanges.map(\.description).joined(separator: ", "))")
        }
    }

    /// Follows the replica chains of a new node table: a range this server now heads, which it held
    /// as a replica, is promoted (its values and updater state serve at once, nothing is copied);
    /// ranges it no longer holds are freed; what it had sent down a chain that changed is sent again
    /// to the new next server, or counts as held where it is now the tail.
    private func reconfigureChains(_ table: NodeTable, io: any TransportIO) throws {
        // What was applied under the old chains goes down them first.
        flushReplication(io: io)
        nodeTable = table
        tableVersion = table.version
        guard !table.chains.isEmpty, let me = table.node(link.nodeID) else { return }
        let primaries = Set(me.ranges)
        let replicaRanges = Set(table.chains.filter { $0.predecessor(of: link.nodeID) != nil }.map(\.range))
        for served in tables.values {
            for range in replicaRanges.sorted(by: { $0.lowerBound < $1.lowerBound }) { served.addReplica(range) }
            for range in primaries where !served.stores.contains(where: { $0.range == range }) {
                guard served.promote(range) else {
                    throw NodeFailure("the node table makes \(link.settings.name) the primary of \(range), which it does not hold")
                }
                logger.notice("\(link.settings.name) took over \(range) of table '\(served.spec.name)' from its replica")
            }
            served.keepOnly(primaries: primaries, replicaRanges: replicaRanges)
        }
        let (directives, newSuccessors) = replication.reconfigure(table.chains, version: table.version)
        perform(directives, io: io)
        // A new next server gets the whole range, part by part between requests.
        copying.removeAll { copy in !replication.isCopying(copy.range) || newSuccessors.contains { $0.0 == copy.range } }
        for (range, successor) in newSuccessors {
            let copies = tables.keys.sorted().compactMap { RangeCopy(of: range, in: tables[$0]!) }
            let parts = copies.reduce(0) { $0 + $1.partCount }
            logger.info("\(link.settings.name) copies \(range) to \(successor) in \(parts) part(s)")
            perform(replication.beginCopy(range, version: table.version, parts: parts), io: io)
            copying += copies
        }
        sendCopyParts(io: io)
    }

    /// Sends the next few parts of the ranges being copied to new replicas.
    private func sendCopyParts(io: any TransportIO) {
        var budget = Self.copyPartsPerTurn
        let origin = RequestOrigin(server: link.nodeID, sender: link.nodeID, requestID: 0)
        while budget > 0, !copying.isEmpty {
            guard let table = tables[copying[0].table], let part = copying[0].nextPart(from: table, origin: origin) else {
                copying.removeFirst()
                continue
            }
            perform(replication.sendCopyPart(part, of: copying[0].range), io: io)
            if copying[0].isDone { copying.removeFirst() }
            budget -= 1
        }
    }

    /// Carries out what the chain replication says.
    private func perform(_ directives: [ChainReplication.Directive], io: any TransportIO) {
        for directive in directives {
            switch directive {
            case .send(let message, let server):
                guard let endpoint = nodeTable?.node(server)?.endpoint else { continue }
                send(message, to: .endpoint(endpoint), io: io)
            case .release(let held):
                send(held.reply, to: held.peer, io: io)
                if orderedSenders.contains(held.sender) {
                    deduplicator.recordReply(sender: held.sender, requestID: held.requestID, reply: kept(held.reply))
                }
            case .replicaReady(let range, let version):
                var header = Header(kind: .replicaReady, keyRange: range)
                header.tableVersion = version
                perform(io) { try link.send(header, io: io) }
            }
        }
    }

    /// Follows membership changes: BSP iterations stop waiting for workers that left, and senders
    /// that left are forgotten by the deduplicator.
    private func update(_ table: NodeTable, io: any TransportIO) {
        let senders = Set(table.nodes.filter { $0.role == .worker || $0.role == .client }.map(\.id))
        for gone in orderedSenders.subtracting(senders) {
            deduplicator.forget(sender: gone)
            appliedOrigins.forget(sender: gone)
        }
        orderedSenders = senders
        knownSenders = Set(table.nodes.map(\.id))
        let workers = Set(table.nodes(withRole: .worker).map(\.id))
        for served in tables.values {
            guard let aggregator = served.aggregator else { continue }
            for gone in aggregator.workers.subtracting(workers) {
                perform(served.aggregator!.removeWorker(gone), table: served, io: io)
            }
        }
    }

    // MARK: - Data requests

    /// Every request takes this one path: decoded through the filters; admitted once its node
    /// table and its sender are known here (held until then); put in its sender's order by the
    /// deduplicator; served by ``answer(_:from:io:)``; its reply sent and kept for retries. A
    /// request that is next in its sender's order, the usual case, goes through the deduplicator
    /// without buffering or directives.
    private func serve(_ frames: [Frame], from peer: PeerAddress, io: any TransportIO) {
        let decoded = Result { () throws(WireError) in try filters.decode(frames, limits: link.settings.limits) }
        let header: Header?
        switch decoded {
        case .success(let message): header = message.header
        case .failure: header = frames.first.flatMap { try? HeaderCodec.decode($0, limits: link.settings.limits) }
        }
        if let header, Self.isDataRequest(header.kind) || header.kind == .replicate, let version = header.tableVersion,
            version > tableVersion
        {
            if awaitingTable.count < 10_000 {
                awaitingTable.append((frames, peer, version, io.now))
            } else {
                reject(frames, from: peer, io: io, WireError(
                    .staleTable, field: "tv", "routed by node table version \(version), which this server does not have yet (\(tableVersion))"))
            }
            return
        }
        if let header, Self.isDataRequest(header.kind), header.sender != .unassigned,
            !knownSenders.contains(header.sender)
        {
            if awaitingMembership.count < 10_000 {
                awaitingMembership.append((frames, peer, header.sender, io.now))
            } else {
                reject(frames, from: peer, io: io, WireError(.notRegistered, field: "s", "\(header.sender) is not in the node table"))
            }
            return
        }
        guard let header, isOrdered(header) else {
            switch decoded {
            case .success(let message):
                if let reply = answer(message, from: peer, io: io) { send(reply, to: peer, io: io) }
            case .failure(let error):
                reject(frames, from: peer, io: io, error)
            }
            return
        }
        // A request of an ordered sender uses up its id even when it cannot be decoded, or its
        // later requests would wait for it forever.
        if deduplicator.acceptInOrder(sender: header.sender, requestID: header.requestID, reply: .pending) {
            serveInOrder(decoded, header: header, peer: peer, io: io)
        } else {
            deliver(Incoming(header: header, request: decoded, peer: peer), io: io)
        }
    }

    /// Serves a request its sender's order lets through now, and keeps its reply for retries (a
    /// held reply is kept when it is sent).
    private func serveInOrder(_ request: Result<Message, WireError>, header: Header, peer: PeerAddress, io: any TransportIO) {
        let reply: Message?
        switch request {
        case .success(let message): reply = answer(message, from: peer, io: io)
        case .failure(let error): reply = errorMessage(error, to: header, peer: peer)
        }
        guard let reply else { return }
        send(reply, to: peer, io: io)
        deduplicator.recordReply(sender: header.sender, requestID: header.requestID, reply: kept(reply))
    }

    private func isOrdered(_ header: Header) -> Bool {
        Self.isDataRequest(header.kind) && orderedSenders.contains(header.sender)
    }

    /// The requests that are ordered per sender: they read or change the stores.
    private static func isDataRequest(_ kind: MessageKind) -> Bool {
        kind == .push || kind == .pull || kind == .rangeFunction
    }

    /// Passes a request of an ordered sender through the deduplicator and performs what it says.
    private func deliver(_ incoming: Incoming, io: any TransportIO) {
        let header = incoming.header
        for directive in deduplicator.receive(sender: header.sender, requestID: header.requestID, incoming) {
            switch directive {
            case .apply(_, _, let request):
                serveInOrder(request.request, header: request.header, peer: request.peer, io: io)
            case .replyAgain(_, _, .message(let reply)):
                send(reply, to: incoming.peer, io: io)
            case .replyAgain(_, _, .acknowledged):
                send(acknowledgement(of: header), to: incoming.peer, io: io)
            case .replyAgain(_, _, .readAgain):
                switch incoming.request {
                case .success(let message):
                    if let reply = answer(message, from: incoming.peer, io: io) { send(reply, to: incoming.peer, io: io) }
                case .failure(let error):
                    // E.g. a retried pull whose cached key list was evicted since: the sender resends its keys.
                    reply(error, to: header, peer: incoming.peer, io: io)
                }
            case .buffer, .dropDuplicate, .replyAgain(_, _, .pending):
                break
            case .reject(let error):
                reply(error.wireError, to: header, peer: incoming.peer, io: io)
            }
        }
    }

    private func kept(_ reply: Message) -> KeptReply {
        switch reply.header.kind {
        case .pullReply: return .readAgain
        case .pushAck where reply.header.keyCacheHash == nil && reply.header.compressedSizes == nil: return .acknowledged
        default: return .message(reply)
        }
    }

    private func send(_ reply: Message, to peer: PeerAddress, io: any TransportIO) {
        do {
            try io.send(reply.header, payload: reply.payloadFrames, to: peer)
        } catch {
            logger.warning("\(link.settings.name) could not answer \(peer): \(error)")
        }
    }

    /// Serves a decoded request: its reply (an error reply if it fails), or `nil` for a BSP pull held
    /// until its iteration is complete.
    private func answer(_ message: Message, from peer: PeerAddress, io: any TransportIO) -> Message? {
        do {
            return try handle(message, from: peer, io: io).map { filters.encode($0, answering: message.header) }
        } catch let error as WireError {
            if error.code == .keyOutOfRange, let routedBy = message.header.tableVersion, let current = link.table?.version,
                routedBy < current
            {
                // Routed by an older table: the sender sends it again by this server's table.
                var reply = errorMessage(
                    WireError(.staleTable, field: "tv", "routed by node table version \(routedBy), this server has \(current): \(error.detail)"),
                    to: message.header, peer: peer)
                reply.header.tableVersion = current
                return reply
            }
            return errorMessage(error, to: message.header, peer: peer)
        } catch let error as StorageError {
            return errorMessage(WireError(error.code, field: "u", error.message), to: message.header, peer: peer)
        } catch {
            return errorMessage(WireError(.internalError, field: "k", "\(error)"), to: message.header, peer: peer)
        }
    }

    private func handle(_ message: Message, from peer: PeerAddress, io: any TransportIO) throws -> Message? {
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
            let slices = try table.slices(of: message)
            if header.kind == .push {
                if table.isBSP { return try aggregate(message, table: table, slices: slices, io: io) }
                return try push(message, table: table, slices: slices, from: peer, io: io)
            }
            if table.isBSP, let iteration = header.iteration {
                let held = ServedTable.HeldPull(message: message, peer: peer)
                return serveHeld(table.aggregator!.pull(from: header.sender, iteration: iteration, held), table: table, io: io)
            }
            return pull(message, table: table, slices: slices)
        case .rangeFunction:
            guard let table = tables[header.table] else {
                throw WireError(.unknownTable, field: "t", "no table with id \(header.table); tables: \(tables.keys.sorted())")
            }
            if replication.hasSuccessors {
                throw WireError(.invalidRequest, field: "k", "range functions are not replicated yet: this cluster keeps replicas")
            }
            return try applyFunction(message, table: table)
        case .replicate:
            try writeReplicate(message, io: io)
            return nil
        case .replicateAck:
            perform(replication.acknowledged(header.requestID, by: header.sender), io: io)
            return nil
        case .heartbeat:
            return Message(header: Header(kind: .heartbeat, sender: link.nodeID, requestID: header.requestID))
        case .error:
            // Never answer an error with an error: two confused peers would ping-pong forever.
            logger.error("\(link.settings.name) got an error from \(peer): \(header.errorMessage ?? "no message")")
            return nil
        default:
            throw WireError(.unknownKind, field: "k", "a server does not accept \(header.kind) messages")
        }
    }

    private func updater(named name: String?, table: Table) throws -> any Updater {
        guard let name, name != table.updater.name else { return table.updater }
        if let cached = updaterCache[name] { return cached }
        let made = try registry.make(name)
        updaterCache[name] = made
        return made
    }

    /// Applies a push and answers it, or, where its ranges have replicas, forwards its results down
    /// their chains and holds the answer until every replica has them (`nil`). A push sent again
    /// after a fail-over whose result this server already holds is acknowledged without applying it.
    private func push(
        _ message: Message, table: Table, slices: [ServedTable.Slice], from peer: PeerAddress, io: any TransportIO
    ) throws -> Message? {
        let header = message.header
        if let origin = header.origin, appliedOrigins.contains(origin) { return acknowledgement(of: header) }
        try table.apply(message, slices: slices, updater: updater(named: header.updater, table: table))
        let reply = acknowledgement(of: header)
        let replicated = slices.filter { replication.successor(for: table.stores[$0.store].range) != nil }
        guard !replicated.isEmpty, let keys = message.keys else { return reply }
        let origin = header.origin ?? RequestOrigin(server: link.nodeID, sender: header.sender, requestID: header.requestID)
        keys.withUnsafeBytes { raw in
            for slice in replicated {
                batch.add(
                    table: table.spec.id, range: table.stores[slice.store].range,
                    keys: raw.baseAddress! + 8 * slice.keys.lowerBound, count: slice.keys.count, origin: origin)
            }
        }
        replication.hold(ChainReplication.HeldReply(
            reply: filters.encode(reply, answering: header), peer: peer, sender: header.sender, requestID: header.requestID))
        if batch.keyCount >= Self.batchKeyLimit { flushReplication(io: io) }
        return nil
    }

    /// Sends the results of the pushes applied since the last flush down their chains.
    private func flushReplication(io: any TransportIO) {
        guard !batch.isEmpty || replication.hasHeldReplies else { return }
        let results = batch.take().flatMap { part in
            tables[part.table]?.results(range: part.range, keys: part.keys, origins: part.origins) ?? []
        }
        perform(replication.flush(results: results), io: io)
    }

    /// The input ran dry: what the pushes since the last flush made goes down the chains now.
    public func drained(io: any TransportIO) {
        flushReplication(io: io)
        if !copying.isEmpty { sendCopyParts(io: io) }
    }

    /// Writes a predecessor's replicate into this server's replica of its range, then forwards it
    /// down the chain or, at the tail, acknowledges it.
    private func writeReplicate(_ message: Message, io: any TransportIO) throws {
        let header = message.header
        guard let table = tables[header.table] else {
            throw WireError(.unknownTable, field: "t", "no table with id \(header.table); tables: \(tables.keys.sorted())")
        }
        let store = try table.replicaStore(for: message)
        let range = store.range
        guard replication.chain(containing: range)?.predecessor(of: link.nodeID) == header.sender else {
            throw WireError(.invalidRequest, field: "s", "\(header.sender) is not the predecessor of \(link.nodeID) in the chain of \(range)")
        }
        store.write(replicate: message)
        for origin in header.origins { appliedOrigins.insert(origin) }
        perform(replication.wrote(message, range: range, from: header.sender), io: io)
    }

    private func acknowledgement(of header: Header) -> Message {
        var reply = Header(
            kind: .pushAck, sender: link.nodeID, requestID: header.requestID, table: header.table,
            timestamp: header.timestamp, keyCount: header.keyCount, valueLength: header.valueLength)
        reply.iteration = header.iteration
        return Message(header: reply)
    }

    /// A push to a `bsp` table: added to its iteration's sum and acknowledged; the sum reaches the
    /// stores once every worker pushed the iteration.
    private func aggregate(_ message: Message, table: Table, slices: [ServedTable.Slice], io: any TransportIO) throws -> Message {
        let header = message.header
        guard let iteration = header.iteration else {
            throw WireError(.missingField, field: "it", "a push to the bsp table '\(table.spec.name)' names its iteration")
        }
        if let name = header.updater, name != table.updater.name {
            throw WireError(
                .invalidRequest, field: "u",
                "the bsp table '\(table.spec.name)' applies each iteration's sum with its own updater '\(table.updater.name)'")
        }
        let held = ServedTable.HeldPush(sender: header.sender, timestamp: header.timestamp, spans: slices.map(\.clockSpan))
        var acknowledged: Message?
        for directive in table.aggregator!.push(from: header.sender, iteration: iteration, held) {
            switch directive {
            case .accumulate(let iteration, _, let push):
                table.accumulate(message, iteration: iteration, push: push)
                acknowledged = acknowledgement(of: header)
            case .rejectPush(_, let error):
                throw error.wireError
            default:
                perform([directive], table: table, io: io)
            }
        }
        return acknowledged ?? acknowledgement(of: header)
    }

    /// Performs the aggregator's directives that apply sums and answer held pulls.
    private func perform(_ directives: [BSPAggregator<ServedTable.HeldPush, ServedTable.HeldPull>.Directive], table: Table, io: any TransportIO) {
        for directive in directives {
            switch directive {
            case .applyAggregate(let iteration):
                table.applyAggregate(iteration: iteration)
            case .servePull(_, let held):
                if let reply = answerHeld(held, table: table).map({ filters.encode($0, answering: held.message.header) }) {
                    send(reply, to: held.peer, io: io)
                    if orderedSenders.contains(held.message.header.sender) {
                        deduplicator.recordReply(sender: held.message.header.sender, requestID: held.message.header.requestID, reply: .readAgain)
                    }
                }
            case .accumulate, .rejectPush:
                break
            }
        }
    }

    /// The reply to a pull the aggregator lets through at once, or `nil` when it holds it.
    private func serveHeld(
        _ directives: [BSPAggregator<ServedTable.HeldPush, ServedTable.HeldPull>.Directive], table: Table, io: any TransportIO
    ) -> Message? {
        guard case .servePull(_, let held)? = directives.first, directives.count == 1 else {
            perform(directives, table: table, io: io)
            return nil
        }
        return answerHeld(held, table: table)
    }

    private func answerHeld(_ held: ServedTable.HeldPull, table: Table) -> Message? {
        do {
            return pull(held.message, table: table, slices: try table.slices(of: held.message))
        } catch let error as WireError {
            return errorMessage(error, to: held.message.header, peer: held.peer)
        } catch {
            return errorMessage(WireError(.internalError, field: "k", "\(error)"), to: held.message.header, peer: held.peer)
        }
    }

    private func pull(_ message: Message, table: Table, slices: [ServedTable.Slice]) -> Message {
        let values = table.read(message, slices: slices)
        let header = message.header
        var reply = Header(
            kind: .pullReply, sender: link.nodeID, requestID: header.requestID, table: header.table,
            timestamp: header.timestamp, keyCount: header.keyCount, valueLength: header.valueLength)
        reply.iteration = header.iteration
        if header.flags.contains(.wantClock) { reply.clock = table.clock(of: slices.map(\.clockSpan)) }
        return Message(header: reply, values: values)
    }

    /// Every stored key of `range` and its values (all keys when the store is dense).
    private func pullRange(_ range: KeyRange, message: Message, table: Table) throws -> Message {
        guard table.stores.contains(where: { $0.range.contains(range) }) || range.isEmpty else {
            let owned = table.stores.map(\.range.description).joined(separator: ", ")
            throw WireError(.keyOutOfRange, field: "r", "range \(range) is not inside one of this server's ranges \(owned)")
        }
        let (keys, values, spans) = table.snapshot(of: range)
        guard keys.count <= link.settings.limits.maxKeysPerMessage else {
            throw WireError(
                .tooLarge, field: "r",
                "range \(range) holds \(keys.count) keys, more than \(link.settings.limits.maxKeysPerMessage) per message; pull smaller ranges")
        }
        let header = message.header
        var reply = Header(
            kind: .pullReply, sender: link.nodeID, requestID: header.requestID, table: header.table,
            timestamp: header.timestamp, keyRange: range, flags: .rangeRequest, keyCount: UInt32(keys.count),
            valueLength: header.valueLength)
        if header.flags.contains(.wantClock), !spans.isEmpty { reply.clock = table.clock(of: spans) }
        return Message(header: reply, keys: Frame(array: keys), values: Frame(array: values))
    }

    /// Runs a range function on the part of `r` this server holds (docs/PROTOCOL.md section 14).
    private func applyFunction(_ message: Message, table: Table) throws -> Message {
        let header = message.header
        guard let range = header.keyRange else {
            throw WireError(.missingField, field: "r", "a rangeFunction request names its key range")
        }
        guard let name = header.updater else {
            throw WireError(.missingField, field: "u", "a rangeFunction request names its function")
        }
        guard table.stores.contains(where: { $0.range.contains(range) }) || range.isEmpty else {
            let owned = table.stores.map(\.range.description).joined(separator: ", ")
            throw WireError(.keyOutOfRange, field: "r", "range \(range) is not inside one of this server's ranges \(owned)")
        }
        let function = try functions.make(name, arguments: header.arguments ?? [])
        let touched = table.apply(function, on: range, sender: header.sender, timestamp: header.timestamp)
        return Message(header: Header(
            kind: .rangeFunctionAck, sender: link.nodeID, requestID: header.requestID, table: header.table,
            timestamp: header.timestamp, keyCount: UInt32(clamping: touched)))
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
        send(errorMessage(error, to: header, peer: peer), to: peer, io: io)
    }

    /// The error reply to `header`'s request; counted and logged.
    private func errorMessage(_ error: WireError, to header: Header, peer: PeerAddress) -> Message {
        rejectedRequests += 1
        logger.warning("\(link.settings.name) rejected a request from \(peer): \(error)")
        return Message(header: header.errorReply(from: link.nodeID, error))
    }
}
