import Logging
import ZeroMQ

/// A server's or worker's side of membership: registration with the manager, heartbeats, the node
/// table, and noticing a manager that went silent. Part of the node's state machine: it takes the
/// time with each event and appends what it sends to the machine's directives.
struct ManagerLink {
    enum Event {
        /// The manager sent a node table (the first one completes registration).
        case nodeTable(NodeTable)
        /// The manager sent a change (`nt.base`), applied to this node's table: the whole new table
        /// and the members the change added or replaced.
        case nodeTableChange(NodeTable, changed: [NodeInfo])
        /// The manager asks the node to stop, with the job's failure if it failed; the link has
        /// already answered.
        case shutdown(jobFailure: String?)
        /// Any other message from the manager, for the role to handle.
        case message(Message)
    }

    let settings: NodeSettings
    private(set) var nodeID: NodeID = .unassigned
    private(set) var table: NodeTable?
    private var registeredAt: ContinuousClock.Instant?
    private var lastHeardFromManager: ContinuousClock.Instant?
    private var lastHeartbeat: ContinuousClock.Instant?
    /// When ``tick(now:into:)`` last ran: a longer gap than a heartbeat interval is time this node
    /// did not run its loop, during which it could not hear the manager either.
    private var lastTick: ContinuousClock.Instant?
    private var nextRequestID: UInt64 = 1
    /// The registration as sent: sent again to ask for the whole table when a change cannot be applied.
    private var registration = Header(kind: .register)
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
                throw NodeFailure("the manager's node table version \(newTable.version) does not list \(settings.name) at \(endpoint)")
            }
            nodeID = me.id
            if table == nil, let readyFile = settings.readyFile { ReadyFile.create(readyFile, logger: logger) }
            table = newTable
            return .nodeTable(newTable)
        case .heartbeat:
            return nil
        case .shutdown:
            send(Header(kind: .shutdownAck, requestID: message.header.requestID), into: &directives)
            return .shutdown(jobFailure: message.header.errorMessage)
        case .error:
            throw NodeFailure(
                "the manager at \(settings.managerEndpoint) refused \(settings.name): \(message.header.errorMessage ?? "no reason given")")
        default:
            return .message(message)
        }
    }

    /// Throws once the manager may have handed this node's ranges to others: this node sent it no
    /// heartbeat for longer than the heartbeat timeout (it was paused, as SIGSTOP does, or starved
    /// of CPU), so the manager has had as long without one and may have declared it dead. Checked
    /// by a server whose ranges have replicas before it serves a request and at every tick: a
    /// server that comes back from such a pause stops before it answers anything from stores that
    /// may be stale, whatever the manager's messages queued meanwhile say (they were sent before
    /// the manager gave up on it).
    func checkHeartbeatLease(now: ContinuousClock.Instant) throws {
        guard table != nil, let lastHeartbeat, now - lastHeartbeat > settings.deadlines.heartbeatTimeout else { return }
        throw NodeFailure(
            "\(settings.name) sent the manager no heartbeat for \((now - lastHeartbeat).secondsText) (paused or starved of CPU), longer than the heartbeat timeout of \(settings.deadlines.heartbeatTimeout.secondsText): the manager may have given its ranges to other servers, so it stops before serving from them")
    }

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
            lastHeartbeat = now
            send(Header(kind: .heartbeat), into: &directives)
        }
    }
}
