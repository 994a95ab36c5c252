import Logging
import ZeroMQ

/// A server's or worker's side of membership: registration with the manager, heartbeats, the node
/// table, and noticing a manager that went silent. Part of the node's state machine: it takes the
/// time with each event and appends what it sends to the machine's directives.
struct ManagerLink {
    enum Event {
        /// The manager sent a node table (the first one completes registration).
        case nodeTable(NodeTable)
        /// A server that was registered got a whole node table that does not list it: its join
        /// was abandoned (a server died meanwhile) and the manager plans it again later, in a table
        /// that lists it again, under the same id or a new one (docs/FAULT-TOLERANCE.md, "Joins").
        case notListed(NodeTable)
        /// The manager sent a change (`nt.base`), applied to this node's table: the whole new table
        /// and the members the change added or replaced.
        case nodeTableChange(NodeTable, changed: [NodeInfo])
        /// The manager asks the node to stop, with the job's failure if it failed; the link has
        /// already answered.
        case shutdown(jobFailure: String?)
        /// The manager answered this node's first heartbeat: its heartbeat lease starts
        /// (``checkHeartbeatLease(now:)``).
        case leaseEstablished
        /// The manager refused this server's ``requestLeave(into:)`` with an error `code` and its text.
        case leaveRefused(ErrorCode, String)
        /// Any other message from the manager, for the role to handle.
        case message(Message)
    }

    let settings: NodeSettings
    private(set) var nodeID: NodeID = .unassigned
    private(set) var table: NodeTable?
    private var registeredAt: ContinuousClock.Instant?
    private var lastHeardFromManager: ContinuousClock.Instant?
    private var lastHeartbeat: ContinuousClock.Instant?
    /// The heartbeats sent and not answered yet, oldest first: their `id` and when they went out.
    private var unansweredHeartbeats: [(id: UInt64, sent: ContinuousClock.Instant)] = []
    private var lastHeartbeatID: UInt64 = 0
    /// When the newest heartbeat the manager answered went out: the manager heard this node at or
    /// after that moment, so it cannot have declared it dead before one heartbeat timeout after it.
    private(set) var leaseStart: ContinuousClock.Instant?
    /// When ``tick(now:into:)`` last ran: a longer gap than a heartbeat interval is time this node
    /// did not run its loop, during which it could not hear the manager either.
    private var lastTick: ContinuousClock.Instant?
    private var nextRequestID: UInt64 = 1
    /// The registration as sent: sent again to ask for the whole table when a change cannot be applied.
    private var registration = Header(kind: .register)
    /// The request id of the last ``MessageKind/leave`` sent, whose refusal is the role's to handle.
    private var leaveRequestID: UInt64?
    private let logger: Logger

    init(settings: NodeSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    var manager: PeerAddress { .endpoint(settings.managerEndpoint) }

    var isRegistered: Bool { table != nil }

    mutating func makeRequestID() -> UInt64 {
        defer { nextRequestID += 1 }
        return nextRequestID
    }

    /// Sends the registration.
    mutating func start(context: NodeContext, into directives: inout [NodeDirective]) {
        registeredAt = context.now
        lastHeardFromManager = context.now
        let header = Header(
            kind: .register, sender: nodeID, requestID: makeRequestID(), role: settings.role,
            rank: UInt32(settings.rank), endpoint: settings.advertisedEndpoint(bound: context.localEndpoint))
        registration = header
        directives.append(.sendFrames(MessageCodec.encode(Message(header: header)), to: manager, onFailure: .fatal))
        logger.debug("registering with the manager at \(settings.managerEndpoint) as \(settings.name) at \(header.endpoint ?? "")")
    }

    /// Sends `header` (with this node's id) to the manager; a failed send is the node's failure
    /// unless `onFailure` says otherwise.
    func send(_ header: Header, onFailure: SendFailurePolicy = .fatal, into directives: inout [NodeDirective]) {
        var header = header
        header.sender = nodeID
        directives.append(.sendFrames(MessageCodec.encode(Message(header: header)), to: manager, onFailure: onFailure))
    }

    /// Asks the manager to take this server out of the job (``MessageKind/leave``): it answers
    /// ``Event/shutdown`` once it has, or ``Event/leaveRefused(_:_:)``.
    mutating func requestLeave(into directives: inout [NodeDirective]) {
        let id = makeRequestID()
        leaveRequestID = id
        send(Header(kind: .leave, requestID: id), into: &directives)
    }

    /// Handles a message from the manager.
    mutating func handle(
        _ message: Message, context: NodeContext, into directives: inout [NodeDirective]
    ) throws -> Event? {
        lastHeardFromManager = context.now
        switch message.header.kind {
        case .nodeTable:
            guard let newTable = message.header.nodeTable else {
                throw NodeFailure("the manager sent a node table message without a table")
            }
            if let old = table, old.version >= newTable.version { return nil }
            if newTable.base != nil {
                // A change (a client joined): applied to the table it is based on. One based on
                // another version means this node missed one; the manager answers a repeated
                // registration with the whole table.
                guard table?.apply(newTable) == true else {
                    logger.warning(
                        "\(settings.name) got node table change \(newTable.base ?? 0) → \(newTable.version) but holds \(table?.version ?? 0); asking for the whole table")
                    directives.append(.sendFrames(MessageCodec.encode(Message(header: registration)), to: manager, onFailure: .fatal))
                    return nil
                }
                return .nodeTableChange(table!, changed: newTable.nodes)
            }
            let endpoint = settings.advertisedEndpoint(bound: context.localEndpoint)
            guard
                let me = newTable.nodes.first(where: {
                    $0.role == settings.role && $0.rank == UInt32(settings.rank) && $0.endpoint == endpoint
                })
            else {
                guard table != nil, settings.role == .server else {
                    throw NodeFailure("the manager's node table version \(newTable.version) does not list \(settings.name) at \(endpoint)")
                }
                // Heartbeats go on under the id it had: the manager answers them while it waits.
                table = newTable
                return .notListed(newTable)
            }
            nodeID = me.id
            let first = table == nil
            if first, let readyFile = settings.readyFile { ReadyFile.create(readyFile, logger: logger) }
            table = newTable
            // The first heartbeat goes at once: its answer starts the lease a server with replicas
            // needs before it serves.
            if first { sendHeartbeat(now: context.now, into: &directives) }
            return .nodeTable(newTable)
        case .heartbeat:
            // The answer carries the heartbeat's id; answers come in the order the heartbeats went.
            let id = message.header.requestID
            guard let answered = unansweredHeartbeats.lastIndex(where: { $0.id == id }) else { return nil }
            let sent = unansweredHeartbeats[answered].sent
            unansweredHeartbeats.removeFirst(answered + 1)
            let first = leaseStart == nil
            if leaseStart.map({ sent > $0 }) ?? true { leaseStart = sent }
            return first ? .leaseEstablished : nil
        case .shutdown:
            send(Header(kind: .shutdownAck, requestID: message.header.requestID), into: &directives)
            return .shutdown(jobFailure: message.header.errorMessage)
        case .error where leaveRequestID != nil && message.header.requestID == leaveRequestID:
            leaveRequestID = nil
            return .leaveRefused(message.header.errorCode ?? .internalError, message.header.errorMessage ?? "no reason given")
        case .error:
            throw NodeFailure(
                "the manager at \(settings.managerEndpoint) refused \(settings.name): \(message.header.errorMessage ?? "no reason given")")
        default:
            return .message(message)
        }
    }

    /// Throws once the manager may have handed this node's ranges to others: no heartbeat sent in
    /// the last heartbeat timeout has been answered. The manager declares a node dead a timeout
    /// after it last heard it, and it heard this one at or after the newest answered heartbeat
    /// went out, so a node that stops at that moment plus the timeout stops no later than the
    /// manager gives up on it, whatever kept them apart: the node paused (SIGSTOP) or starved of
    /// CPU, or its heartbeats or the answers delayed on the way. Checked by a server whose ranges
    /// have replicas before it serves a request and at every tick; until the first answer there
    /// is no lease yet (``hasLease``), and such a server holds what it receives.
    func checkHeartbeatLease(now: ContinuousClock.Instant) throws {
        guard table != nil, let leaseStart, now - leaseStart > settings.deadlines.heartbeatTimeout else { return }
        throw NodeFailure(
            "\(settings.name) has no answer from the manager to a heartbeat sent in the last \(settings.deadlines.heartbeatTimeout.secondsText) (the newest answered one went out \((now - leaseStart).secondsText) ago: paused, starved of CPU, or its messages to or from the manager delayed): the manager may have given its ranges to other servers, so it stops before serving from them")
    }

    /// Whether the manager has answered a heartbeat of this node since it registered.
    var hasLease: Bool { leaseStart != nil }

    /// Sends heartbeats and enforces the registration and manager-silence deadlines.
    mutating func tick(now: ContinuousClock.Instant, into directives: inout [NodeDirective]) throws {
        let deadlines = settings.deadlines
        // The manager enforces the startup deadline and names the nodes that are missing; a node
        // gives up on its own only if the manager has not said anything a shutdown deadline later.
        let registrationLimit = deadlines.startup + deadlines.shutdown
        if table == nil, let registeredAt, now - registeredAt > registrationLimit {
            throw NodeFailure(
                "the manager at \(settings.managerEndpoint) did not answer the registration of \(settings.name) within \(registrationLimit.secondsText) (expected: a node table listing every server and worker)")
        }
        // Time this node did not run its loop (paused, starved of CPU, or busy with application work
        // on its I/O thread) is not the manager's silence: what the manager sent meanwhile is still
        // unread. Only the time this node was listening counts.
        if let lastTick, let heard = lastHeardFromManager {
            let notListening = now - lastTick - deadlines.heartbeatInterval
            if notListening > .zero { lastHeardFromManager = heard + notListening }
        }
        lastTick = now
        if let lastHeardFromManager, table != nil, now - lastHeardFromManager > deadlines.heartbeatTimeout {
            throw NodeFailure(
                "the manager at \(settings.managerEndpoint) has been silent for \(deadlines.heartbeatTimeout.secondsText) (expected: an answer to every heartbeat of \(settings.name))")
        }
        if table != nil, lastHeartbeat.map({ now - $0 >= deadlines.heartbeatInterval }) ?? true {
            sendHeartbeat(now: now, into: &directives)
        }
    }

    /// Sends a heartbeat with the next id and remembers when it went out.
    private mutating func sendHeartbeat(now: ContinuousClock.Instant, into directives: inout [NodeDirective]) {
        lastHeartbeat = now
        lastHeartbeatID += 1
        // Heartbeats unanswered for a whole timeout no longer matter to the lease.
        let timeout = settings.deadlines.heartbeatTimeout
        unansweredHeartbeats.removeAll { now - $0.sent > timeout }
        unansweredHeartbeats.append((lastHeartbeatID, now))
        send(Header(kind: .heartbeat, requestID: lastHeartbeatID), into: &directives)
    }
}
