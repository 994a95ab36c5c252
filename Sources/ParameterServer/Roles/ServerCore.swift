import Logging
import ZeroMQ

/// A server's logic as a state machine: membership through a ``ManagerLink``, then pushes and pulls
/// against the ``RangeStore``s of the ranges the manager assigned it. Each event comes in with its
/// time (``RoleMachine``) and the replies go out as directives, which a ``RoleShell`` carries out
/// on the node's I/O thread.
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
public final class ServerCore: RoleMachine {
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
    /// The connection each member registered from: data requests are accepted only from there.
    var senderBinding = SenderBinding()
    /// Requests of a sender the node table does not list yet: a client's first requests can overtake
    /// the table that admits it. Served in arrival order once it is listed; refused after a while.
    var awaitingMembership: [(frames: [Frame], peer: PeerAddress, sender: NodeID, arrived: ContinuousClock.Instant)] = []
    var updaterCache: [String: any Updater] = [:]
    /// Requests that arrived before the node table (bounded), and the pool each counts in.
    var early: [([Frame], PeerAddress, HeldRequestBudget.Pool)] = []
    /// The requests held (early, awaiting a table or membership, ahead of their sender's order),
    /// counted against ``PeerLimits`` (ServerCore+Holding.swift).
    var heldRequests: HeldRequestBudget
    var shuttingDown = false
    /// Set once the server, asked to stop, asked the manager to take it out of the job
    /// (ServerCore+Leave.swift): since when, and when to ask again after the manager was busy.
    var leaving: (since: ContinuousClock.Instant, askAgainAt: ContinuousClock.Instant?)?
    /// Set once the server found its heartbeat lease run out (``ManagerLink/checkHeartbeatLease(now:)``):
    /// it answers nothing more and stops.
    var leaseLost = false
    /// This server's part in the replica chains of its ranges (docs/FAULT-TOLERANCE.md).
    var replication = ChainReplication(me: .unassigned)
    /// The keys pushes changed since results last went down the chains.
    var batch = ReplicationBatch()
    /// A batch this large goes down the chains without waiting for the input to run dry or for the
    /// previous flush's acknowledgement.
    static let batchKeyLimit = 1 << 20
    /// A batch with this many pushes to one range goes down the chains without waiting either: the
    /// range's last replicate names its pushes in the header, which must stay inside the header
    /// limit.
    static let batchPushLimit = 1024
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
    /// The segments this server heads and drains for a join, and whether it reported each drained.
    var draining: [KeyRange: Bool] = [:]
    /// The version of the node table that listed this server, since it was last left out: `nil`
    /// before its first table and while it waits to join again after an abandoned join
    /// (ServerCore+Rejoin.swift).
    var listedSince: UInt64?
    /// The latest node table: where the other servers of the chains are.
    var nodeTable: NodeTable?
    /// The version of the latest node table (0 before the first).
    var tableVersion: UInt64 = 0
    /// Requests routed by a newer node table than this server has yet (`tv`): the manager sends a
    /// new table to every member at once, so a worker may act on it first. Served once the table
    /// comes; refused with `staleTable` after the heartbeat timeout (bounded).
    var awaitingTable: [
        (frames: [Frame], peer: PeerAddress, version: UInt64, arrived: ContinuousClock.Instant, pool: HeldRequestBudget.Pool)
    ] = []
    /// Counters for logs and tests.
    var rejectedRequests = 0
    /// Replies that could not be sent (their peer is gone).
    var unanswered = 0
    /// Refusals of requests of senders the node table did not list yet, which use up their ids
    /// once a table lists the sender.
    var unlistedRefusals: UnlistedRefusals
    /// Pull replies not built because the transport would drop them (``skipsDroppedReply(_:to:)``).
    var skippedReplies = 0
    /// For a message being handled: its sender, and the most payload bytes a reply to it may have
    /// without being dropped (``NodeContext/replyRoom``); `nil` when any reply would go.
    var replyRoom: (peer: PeerAddress, bytes: Int)?
    /// The time of the event being handled.
    var now: ContinuousClock.Instant = .now
    /// The endpoint this node is bound to, as of the event being handled.
    var localEndpoint = ""
    /// The directives of the event being handled (the caller's buffer, swapped in for the event).
    var directives: [NodeDirective] = []

    /// Creates the server logic; `outcome` receives the reason it stopped.
    public init(
        settings: NodeSettings, registry: UpdaterRegistry = .builtIn, functions: RangeFunctionRegistry = .builtIn,
        outcome: NodeOutcome, logger: Logger
    ) {
        self.link = ManagerLink(settings: settings, logger: logger)
        self.registry = registry
        self.functions = functions
        filters = ServerFilters(tables: settings.tables)
        heldRequests = HeldRequestBudget(limits: settings.peerLimits)
        unlistedRefusals = UnlistedRefusals(limit: settings.peerLimits.unknownSenderRequests)
        self.outcome = outcome
        self.logger = logger
    }

    /// Once registered, a server's work is requests on its ROUTER; the manager's messages and a
    /// stop may wait for the next tick. Registration and shutdown wait on every socket.
    public var mainSocket: MainSocket? { link.isRegistered && !shuttingDown ? .router : nil }

    public func handle(_ event: NodeEvent, context: NodeContext, into directives: inout [NodeDirective]) {
        now = context.now
        localEndpoint = context.localEndpoint
        swap(&self.directives, &directives)
        defer { swap(&self.directives, &directives) }
        switch event {
        case .started:
            link.start(context: context, into: &self.directives)
        case .received(let frames, let peer):
            replyRoom = context.replyRoom.map { (peer, $0) }
            defer { replyRoom = nil }
            received(frames, from: peer)
        case .tick:
            tick()
        case .drained:
            drained()
        case .sendFailed(let directive, let error):
            sendFailed(directive, error: error)
        }
    }

    /// Runs `work` queued from another thread (a test reading the server's state) as an event of
    /// its own at `context`: what it sends is appended to `directives`.
    public func execute(_ work: (ServerCore) -> Void, context: NodeContext, into directives: inout [NodeDirective]) {
        now = context.now
        localEndpoint = context.localEndpoint
        swap(&self.directives, &directives)
        defer { swap(&self.directives, &directives) }
        work(self)
    }

    func tick() {
        guard leaseHolds() else { return }
        do {
            try link.tick(now: now, into: &directives)
        } catch {
            stop(failing: error)
        }
        flushReplication()
        if !copying.isEmpty { sendCopyParts() }
        expireHeld()
        if leaving != nil { tickLeave() }
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

    func received(_ frames: [Frame], from peer: PeerAddress) {
        if peer == link.manager {
            perform { try handleManager(frames) }
            return
        }
        guard link.isRegistered else { return holdEarly(frames, from: peer) }
        // A server with replicas serves once the manager answered a heartbeat: its lease.
        if nodeTable?.chains.isEmpty == false, !link.hasLease { return holdEarly(frames, from: peer) }
        guard leaseHolds() else { return }
        serve(frames, from: peer)
    }

    /// Whether this server may still serve: without replicas no other server can be given its
    /// ranges, so it always may; with them, only while the manager answers its heartbeats in time
    /// (``ManagerLink/checkHeartbeatLease(now:)``). The first time it may not, it stops.
    func leaseHolds() -> Bool {
        if leaseLost { return false }
        guard nodeTable?.chains.isEmpty == false else { return true }
        do {
            try link.checkHeartbeatLease(now: now)
            return true
        } catch {
            leaseLost = true
            stop(failing: error)
            return false
        }
    }

    /// Runs `body`; an error it throws is the node's failure and stops it.
    func perform(_ body: () throws -> Void) {
        do {
            try body()
        } catch {
            stop(failing: error)
        }
    }

    /// Records `error` as the node's failure and stops it.
    func stop(failing error: any Error) {
        outcome.fail("\(error)")
        directives.append(.stop)
    }

    /// A send failed: membership traffic fails the node (as a registration or heartbeat it could
    /// not send); a reply or a copy is logged, and its peer recovers (a retry, a resend).
    func sendFailed(_ directive: NodeDirective, error: any Error) {
        switch directive.onFailure {
        case .fatal?:
            stop(failing: error)
        case .logged?, .request?, .barrier?, nil:
            // A peer that left has its queued requests answered into the void: warned about at the
            // 1st, 2nd, 4th, 8th, … failure, not once per reply.
            unanswered += 1
            if unanswered & (unanswered - 1) == 0 {
                logger.warning("\(link.settings.name) could not send \(unanswered) repl(ies) so far; last to \(directive.peer.map { "\($0)" } ?? "a peer"): \(error)")
            }
        }
    }

    func handleManager(_ frames: [Frame]) throws {
        let message = try MessageCodec.decode(frames, limits: link.settings.limits)
        switch try link.handle(message, context: NodeContext(now: now, localEndpoint: localEndpoint), into: &directives) {
        case .nodeTableChange(let table, let changed) where changed.allSatisfy({ $0.role == .client }):
            // Clients joined: no range, chain or worker changed, so the new members are all there is
            // to take in, and a client's registration costs a server the same however many came before.
            nodeTable = table
            tableVersion = table.version
            for node in changed {
                knownSenders.insert(node.id)
                orderedSenders.insert(node.id)
                senderBinding.add(node)
            }
            serveHeld()
        case .nodeTable(let table), .nodeTableChange(let table, _):
            let held = heldRanges
            try configure(table)
            update(table)
            try reconfigureChains(table, held: held)
            serveHeld()
        case .notListed(let table):
            try leaveAbandonedJoin(table)
        case .shutdown(let jobFailure):
            if let jobFailure { outcome.jobFailed(jobFailure) }
            shuttingDown = true
            if leaving != nil, jobFailure == nil {
                outcome.succeed("left the job")
                logger.notice("\(link.settings.name) left the job: the manager moved its ranges to their replicas")
            }
            logger.info("\(link.settings.name) shutting down at the manager's request")
            directives.append(.stop)
        case .leaseEstablished:
            serveHeld()
        case .leaveRefused(let code, let reason):
            leaveRefused(code, reason)
        case .message(let message):
            logger.warning("\(link.settings.name) ignored a \(message.header.kind) message from the manager")
        case nil:
            break
        }
    }

    /// Creates the stores for the ranges this server holds in the first `table` that lists it (again,
    /// after an abandoned join: under the id that table gives it), as primary or replica.
    func configure(_ table: NodeTable) throws {
        guard listedSince == nil else { return }
        guard let me = table.node(link.nodeID) else { return }
        listedSince = table.version
        replication = replication.restarted(as: link.nodeID)
        let replicaRanges = table.chains.filter { $0.predecessor(of: link.nodeID) != nil }.map(\.range)
            .sorted { $0.lowerBound < $1.lowerBound }
        for spec in link.settings.tables {
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
    func update(_ table: NodeTable) {
        let senders = Set(table.nodes.filter { $0.role == .worker || $0.role == .client }.map(\.id))
        for gone in orderedSenders.subtracting(senders) {
            deduplicator.forget(sender: gone)
            heldRequests.forget(sender: gone)
            appliedOrigins.forget(sender: gone)
        }
        orderedSenders = senders
        knownSenders = Set(table.nodes.map(\.id))
        senderBinding.update(table)
        let workers = Set(table.nodes(withRole: .worker).map(\.id))
        for served in tables.values {
            guard let aggregator = served.aggregator else { continue }
            for gone in aggregator.workers.subtracting(workers) {
                perform(served.aggregator!.removeWorker(gone), table: served)
            }
        }
    }

}
