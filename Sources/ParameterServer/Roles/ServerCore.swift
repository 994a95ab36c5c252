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
/// aggregates each iteration's pushes with a ``BSPAggregator`` (docs/CONSISTENCY.md). With
/// replication, what pushes change goes down each range's chain of servers (docs/FAULT-TOLERANCE.md).
///
/// This file holds the node's life and membership; the request path is in
/// ServerCore+Requests.swift, replication in ServerCore+Replication.swift, `bsp` tables in
/// ServerCore+BSP.swift.
public final class ServerCore: TransportHandler {
    typealias Table = ServedTable

    /// A request of an ordered sender, as the deduplicator holds it until its turn.
    struct Incoming: Sendable {
        var header: Header
        /// The decoded request, or why it could not be decoded (the id is consumed all the same).
        var request: Result<Message, WireError>
        var peer: PeerAddress
    }

    /// What a retry of an applied request gets: the same reply, or, for a pull, a fresh read (pull
    /// replies are not kept: they can be large, and reading again has no side effect).
    enum KeptReply: Sendable {
        case message(Message)
        /// A plain acknowledgement, rebuilt from the retry's header (which repeats the request's).
        case acknowledged
        case readAgain
        /// The reply is held (until the replicas have the push, or a BSP iteration is complete) and
        /// will be sent then: a retry meanwhile is dropped.
        case pending
    }

    var link: ManagerLink
    let registry: UpdaterRegistry
    let functions: RangeFunctionRegistry
    /// The communication filters of the tables (docs/PROTOCOL.md section 13).
    var filters: ServerFilters
    let logger: Logger
    let outcome: NodeOutcome
    var tables: [UInt32: Table] = [:]
    var deduplicator = RequestDeduplicator<Incoming, KeptReply>()
    /// The workers and clients of the node table: senders whose requests are ordered and deduplicated.
    var orderedSenders: Set<NodeID> = []
    /// Every node id of the node table.
    var knownSenders: Set<NodeID> = []
    /// Requests of a sender the node table does not list yet: a client's first requests can overtake
    /// the table that admits it. Served in arrival order once it is listed; refused after a while.
    var awaitingMembership: [(frames: [Frame], peer: PeerAddress, sender: NodeID, arrived: ContinuousClock.Instant)] = []
    var updaterCache: [String: any Updater] = [:]
    /// Requests that arrived before the node table (bounded).
    var early: [([Frame], PeerAddress)] = []
    var shuttingDown = false
    /// This server's part in the replica chains of its ranges (docs/FAULT-TOLERANCE.md).
    var replication = ChainReplication(me: .unassigned)
    /// The keys pushes changed since results last went down the chains.
    var batch = ReplicationBatch()
    /// A batch this large goes down the chains without waiting for the input to run dry or for the
    /// previous flush's acknowledgement.
    static let batchKeyLimit = 1 << 20
    /// Ranges being copied to new replicas, part by part between requests.
    var copying: [RangeCopy] = []
    /// Copy parts sent each time the input runs dry (or each tick).
    static let copyPartsPerTurn = 4
    /// At most this many messages of a range's copy travel unacknowledged: the copy goes at the
    /// pace the new replica takes it, and a range of 10^7 keys does not flood the link and the
    /// servers' CPUs while the promoted primary serves its first requests.
    static let copyMessagesInFlight = 2
    /// The pushes whose results this server holds, by first identity: a push sent again after a
    /// fail-over that is already here is acknowledged, not applied twice.
    var appliedOrigins = AppliedOrigins()
    /// The latest node table: where the other servers of the chains are.
    var nodeTable: NodeTable?
    /// The version of the latest node table (0 before the first).
    var tableVersion: UInt64 = 0
    /// Requests routed by a newer node table than this server has yet (`tv`): the manager sends a
    /// new table to every member at once, so a worker may act on it first. Served once the table
    /// comes; refused with `staleTable` after the heartbeat timeout (bounded).
    var awaitingTable: [(frames: [Frame], peer: PeerAddress, version: UInt64, arrived: ContinuousClock.Instant)] = []
    /// Counters for logs and tests.
    var rejectedRequests = 0

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

    func perform(_ io: any TransportIO, _ body: () throws -> Void) {
        outcome.failing(stopping: io, body)
    }

    func handleManager(_ frames: [Frame], io: any TransportIO) throws {
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
        case .shutdown(let jobFailure):
            if let jobFailure { outcome.jobFailed(jobFailure) }
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
    func configure(_ table: NodeTable) throws {
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

    /// Follows membership changes: BSP iterations stop waiting for workers that left, and senders
    /// that left are forgotten by the deduplicator.
    func update(_ table: NodeTable, io: any TransportIO) {
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

}
