import Logging
import ZeroMQ

/// The manager's logic as a state machine (``RoleMachine``): admits nodes, assigns key ranges, keeps
/// and broadcasts the versioned node table, runs barriers, watches heartbeats and deadlines, and
/// shuts the job down.
///
/// The ``Membership`` is the one record of who is a member (ids from its counter), of the servers'
/// key ranges (the segments of its ``HashRing``, each server's virtual nodes) and, with replication,
/// of each segment's chain: its owner, then the next `k` distinct servers clockwise.
///
/// Every wait has a deadline; when one passes, the job fails with an error naming the nodes that did
/// not do what was expected of them, and every node still reachable is told to shut down. With
/// replication, a server that stops sending heartbeats is taken out instead (``RecoveryPlan``): the
/// first full copy of each of its segments takes it over and each chain left short gets the next
/// server on the ring as a new tail, which copies the segment; the job fails only when a segment
/// loses every copy (docs/FAULT-TOLERANCE.md).
///
/// Each event comes in with its time and what the manager sends goes out as directives, which a
/// ``RoleShell`` carries out on the node's I/O thread.
public final class ManagerCore: RoleMachine {
    struct Member {
        var info: NodeInfo
        var peer: PeerAddress
        var lastHeard: ContinuousClock.Instant
        var registrationRequest: UInt64
        /// The version of the last node table (or change) sent to it: a change goes to a member
        /// that holds its base, a whole table to one that does not.
        var sentVersion: UInt64 = 0
    }

    enum Phase {
        case registering(deadline: ContinuousClock.Instant)
        case running
        case shuttingDown(deadline: ContinuousClock.Instant)
        case finished
    }

    let settings: ManagerSettings
    let logger: Logger
    let onFinish: @Sendable (JobReport) -> Void
    var phase: Phase = .finished
    var members: [NodeID: Member] = [:]
    var table = NodeTable(version: 0, nodes: [])
    /// The table without connection identities (``NodeInfo/withoutConnection``): workers' copy.
    var publicTable = NodeTable(version: 0, nodes: [])
    /// The members other than clients, without connection identities: what a client's copy lists
    /// besides the client itself (ManagerCore+Tables.swift).
    var clientView: [NodeInfo] = []
    /// Node table messages sent and their bytes, whole tables and changes (logged at the end).
    var tableTraffic = TableTraffic()
    /// Failed sends and refused registrations so far: warned about at the 1st, 2nd, 4th, 8th, ….
    var failedSends = 0
    var refusals = 0
    /// Clients admitted so far: logged at the 1st, 2nd, 4th, 8th, ….
    var clientsAdmitted = 0
    var barriers: [String: (arrived: [NodeID: UInt64], deadline: ContinuousClock.Instant)] = [:]
    var done: [NodeID: (summary: String, failure: String?)] = [:]
    var awaitingAck: Set<NodeID> = []
    var failure: String?
    var jobDeadline: ContinuousClock.Instant?
    /// The members' ids, the ring of the servers' ranges and every segment's chain.
    var membership: Membership
    /// What happened to each server lost while the job ran.
    var recoveries: [String] = []
    /// The servers lost while the job ran, by name.
    var lostServers: [String] = []
    /// The ranks of the topology's servers taken out (dead or left): one started again joins.
    var lostServerRanks: Set<UInt32> = []
    /// While segments are short of copies: when their copies began, and how many each server received.
    var copying: (started: ContinuousClock.Instant, received: [NodeID: Int])?
    /// The join being carried out, one at a time (ManagerCore+Join.swift).
    var join: JoinInProgress?
    /// Servers waiting to join, in the order they registered.
    var joiners: [Joiner] = []
    /// Whether a join made the tables list chains in a job without replication.
    var chainsListed = false
    /// The time of the event being handled.
    var now: ContinuousClock.Instant = .now
    /// The directives of the event being handled (the caller's buffer, swapped in for the event).
    var directives: [NodeDirective] = []

    /// Creates the manager logic; `onFinish` receives the job's report once every node acknowledged
    /// the shutdown (or the shutdown deadline passed).
    public init(settings: ManagerSettings, logger: Logger, onFinish: @escaping @Sendable (JobReport) -> Void) {
        self.settings = settings
        self.logger = logger
        self.onFinish = onFinish
        membership = Membership(
            keySpace: settings.keySpace, virtualNodes: settings.virtualNodes, replication: settings.replication)
    }

    /// The id a server or worker of the topology of `rank` has: the membership's counter gives them
    /// when the job starts, servers first, then workers, in rank order (``assignRanges()``).
    func id(role: NodeRole, rank: Int) -> NodeID {
        role == .server ? NodeID(UInt32(1 + rank)) : NodeID(UInt32(1 + settings.servers + rank))
    }

    func expected(_ role: NodeRole) -> Int { role == .server ? settings.servers : settings.workers }

    // MARK: Events

    public func handle(_ event: NodeEvent, context: NodeContext, into directives: inout [NodeDirective]) {
        now = context.now
        swap(&self.directives, &directives)
        defer { swap(&self.directives, &directives) }
        switch event {
        case .started:
            start(localEndpoint: context.localEndpoint)
        case .received(let frames, let peer):
            received(frames, from: peer)
        case .tick:
            tick()
        case .drained:
            break
        case .sendFailed(let directive, let error):
            if directive.header?.kind == .shutdown, let peer = directive.peer { shutdownUndeliverable(to: peer) }
            // A client that left makes every later send to it fail: warned about at 1, 2, 4, 8, ….
            failedSends += 1
            guard failedSends & (failedSends - 1) == 0 else { break }
            let kind = directive.header.map { "\($0.kind)" } ?? "a message"
            logger.warning("manager: \(failedSends) failed send(s) so far; the latest: could not send \(kind) to \(directive.peer.map { "\($0)" } ?? "a peer"): \(error)")
        }
    }

    /// Runs `work` queued from another thread (a signal's ``abort(_:)``) as an event of its own at
    /// `context`: what it sends is appended to `directives`.
    public func execute(_ work: (ManagerCore) -> Void, context: NodeContext, into directives: inout [NodeDirective]) {
        now = context.now
        swap(&self.directives, &directives)
        defer { swap(&self.directives, &directives) }
        work(self)
    }

    func start(localEndpoint: String) {
        phase = .registering(deadline: now + settings.deadlines.startup)
        jobDeadline = now + settings.deadlines.job
        logger.info("manager at \(localEndpoint) waiting for \(settings.servers) server(s) and \(settings.workers) worker(s)")
    }

    public func stopped(error: (any Error)?) {
        if let error, failure == nil { failure = "the manager's I/O loop failed: \(error)" }
        if case .finished = phase { return }
        phase = .finished
        onFinish(report(unacknowledged: awaitingAck.compactMap(awaitedName).sorted()))
    }

    func received(_ frames: [Frame], from peer: PeerAddress) {
        let message: Message
        do {
            message = try MessageCodec.decode(frames, limits: settings.limits)
        } catch {
            logger.warning("manager rejected a message from \(peer): \(error)")
            let header = frames.first.flatMap { HeaderCodec.identity(of: $0, limits: settings.limits) } ?? Header(kind: .error)
            send(Message(header: header.errorReply(from: .manager, error)), to: peer)
            return
        }
        let header = message.header
        if header.kind != .register, let member = members[header.sender], member.peer == peer {
            members[header.sender]?.lastHeard = now
        } else if header.kind == .heartbeat, let index = joiners.firstIndex(where: { $0.id == header.sender && $0.peer == peer }) {
            joiners[index].lastHeard = now
        }
        switch header.kind {
        case .register: register(header, from: peer, publicKey: frames.first?.curvePublicKey)
        case .heartbeat:
            guard members[header.sender]?.peer == peer || isWaitingJoiner(header.sender, peer: peer) else {
                return refuse(header, peer: peer, .notRegistered, "heartbeat from \(header.sender), which is not registered")
            }
            send(Message(header: Header(kind: .heartbeat, sender: .manager, requestID: header.requestID)), to: peer)
        case .barrier: barrier(header, from: peer)
        case .replicaReady: replicaReady(header, from: peer)
        case .workerDone: workerDone(header, from: peer)
        case .leave: leave(header, from: peer)
        case .shutdownAck:
            // A node told to stop before it got the node table acknowledges without an id.
            let id = members[header.sender]?.peer == peer ? header.sender
                : members.first { $0.value.peer == peer }?.key ?? joiners.first { $0.peer == peer }?.id
            if let id { awaitingAck.remove(id) }
            if awaitingAck.isEmpty, case .shuttingDown = phase { finish() }
        case .error:
            // Never answer an error with an error: two confused peers would ping-pong forever.
            logger.warning("manager got an error from \(peer): \(header.errorMessage ?? "no message")")
        default:
            refuse(header, peer: peer, .unknownKind, "the manager does not accept \(header.kind) messages")
        }
    }

    func tick() {
        switch phase {
        case .registering(let deadline) where now > deadline:
            let missing = [NodeRole.server, .worker].flatMap { role in
                (0..<expected(role)).filter { members[id(role: role, rank: $0)] == nil }.map { "\(role)-\($0)" }
            }
            let present = members.values.map(\.info.name).sorted()
            fail(
                "\(missing.joined(separator: ", ")) did not register within \(settings.deadlines.startup.secondsText) (registered: \(present.isEmpty ? "none" : present.joined(separator: ", ")))")
        case .running:
            if let jobDeadline, now > jobDeadline {
                let pending = (0..<settings.workers).filter { done[id(role: .worker, rank: $0)] == nil }.map { "worker-\($0)" }
                fail("the job did not finish within \(settings.deadlines.job.secondsText) (still running: \(pending.joined(separator: ", ")))")
                return
            }
            for member in members.values.sorted(by: { $0.info.id < $1.info.id })
            where member.info.role != .client && now - member.lastHeard > settings.deadlines.heartbeatTimeout {
                if member.info.role == .worker, done[member.info.id] != nil { continue }
                if member.info.role == .server, settings.replication > 0 || member.info.id == join?.plan.joiner {
                    if serverLost(member) { continue }
                    return
                }
                fail(
                    "\(member.info.name) (\(member.info.id), \(member.info.endpoint)) stopped sending heartbeats: last heard \((now - member.lastHeard).secondsText) ago")
                return
            }
            dropSilentJoiners()
            dropOverdueJoin()
            for (name, barrier) in barriers where now > barrier.deadline {
                let missing = (0..<settings.workers).map { id(role: .worker, rank: $0) }
                    .filter { barrier.arrived[$0] == nil }.compactMap { members[$0]?.info.name ?? "worker" }
                fail("\(missing.joined(separator: ", ")) did not reach barrier '\(name)' within \(settings.deadlines.barrier.secondsText)")
                return
            }
            startJoin()
        case .shuttingDown(let deadline) where now > deadline:
            finish()
        default:
            break
        }
    }

    // MARK: Membership

    /// Gives every server the ranges it serves as primary: without replication its segments of the
    /// ring, adjacent ones merged; with replication the segments whose chain it heads, one range each
    /// (a segment's chain is its own).
    func updateRanges() {
        for member in membership.members where member.role == .server {
            members[member.id]?.info.ranges = listsChains ? servedRanges(of: member.id) : membership.ring.ranges(of: member.id)
        }
    }

    /// A server stopped sending heartbeats under replication: for each range it held, the next
    /// full copy of the chain takes its place (a replica promoted where it was the primary), each
    /// chain short of copies gets a server to copy it, and the new table is published. Returns
    /// false, having failed the job, when a range lost every copy.
    func serverLost(_ member: Member) -> Bool {
        let dead = member.info.id
        let silence = now - member.lastHeard
        members[dead] = nil
        lostServers.append(member.info.name)
        lostServerRanks.insert(member.info.rank)
        logger.error("\(member.info.name) (\(dead), \(member.info.endpoint)) stopped sending heartbeats: last heard \(silence.secondsText) ago")
        abandonJoin(becauseOf: dead, named: member.info.name)
        let plan: RecoveryPlan
        do {
            plan = try RecoveryPlan.make(dead: [dead], in: membership)
        } catch {
            fail(
                "key ranges \(error.lostRanges.map(\.description).joined(separator: ", ")) lost every copy: \(lostServers.joined(separator: ", ")) died and replication is \(settings.replication)")
            return false
        }
        adopt(plan, summary: "\(member.info.name) lost after \(silence.secondsText) of silence; \(moves(of: plan))", level: .notice)
        return true
    }

    /// What `plan` promotes and copies where, for the job's report.
    func moves(of plan: RecoveryPlan) -> String {
        let promoted = plan.promotions.map { "\($0.range) to \(name(of: $0.to))" }
        let copies = plan.copies.map { "\($0.range) to \(name(of: $0.target))" }
        return (promoted.isEmpty ? "it held replicas only" : "promoted \(promoted.joined(separator: ", "))")
            + (copies.isEmpty ? "" : "; copying \(copies.joined(separator: ", "))")
    }

    /// Takes the membership `plan` leaves, publishes its table, and records `summary` with the
    /// table's version for the job's report and the log.
    func adopt(_ plan: RecoveryPlan, summary: String, level: Logger.Level) {
        membership = plan.membership
        updateRanges()
        publishTable()
        let line = "\(summary); node table version \(table.version)"
        recoveries.append(line)
        logger.log(level: level, "manager: \(line)")
        if copying == nil, !membership.catchingUp.isEmpty { copying = (now, [:]) }
    }

    /// A server reports that the servers after it in a chain hold their whole copy of the range; once
    /// no segment is short of copies any more, one line says what was copied where, and how long it took.
    func replicaReady(_ header: Header, from peer: PeerAddress) {
        guard let member = members[header.sender], member.peer == peer, member.info.role == .server else {
            return refuse(header, peer: peer, .notRegistered, "only registered servers report copies")
        }
        guard let range = header.keyRange, let version = header.tableVersion else { return }
        if drainReported(range, version: version, by: header.sender) { return }
        let done = membership.copied(range, by: header.sender, version: version)
        guard !done.isEmpty else { return }
        joinProgressed()
        for node in done { copying?.received[node, default: 0] += 1 }
        guard membership.catchingUp.isEmpty, let finished = copying else { return }
        copying = nil
        let segments = finished.received.values.reduce(0, +)
        let receivers = finished.received.sorted { $0.key < $1.key }.map { "\(name(of: $0.key)) (\($0.value))" }
        let line = "\(segments) segment(s) copied to \(receivers.joined(separator: ", ")) in \((now - finished.started).secondsText): "
            + "\(settings.replication + 1) copies of every segment again"
        recoveries.append(line)
        logger.notice("manager: \(line)")
    }

    func name(of id: NodeID) -> String { members[id]?.info.name ?? "\(id)" }

    // MARK: Barriers and completion

    func barrier(_ header: Header, from peer: PeerAddress) {
        guard let member = members[header.sender], member.peer == peer, member.info.role == .worker else {
            return refuse(header, peer: peer, .notRegistered, "only registered workers take part in barriers")
        }
        let name = header.name ?? ""
        var entry = barriers[name] ?? (arrived: [:], deadline: now + settings.deadlines.barrier)
        entry.arrived[header.sender] = header.requestID
        if entry.arrived.count == settings.workers {
            barriers[name] = nil
            for (worker, request) in entry.arrived {
                guard let target = members[worker] else { continue }
                send(Message(header: Header(kind: .barrierRelease, sender: .manager, requestID: request, name: name)), to: target.peer)
            }
        } else {
            barriers[name] = entry
        }
    }

    func workerDone(_ header: Header, from peer: PeerAddress) {
        guard let member = members[header.sender], member.peer == peer, member.info.role == .worker else {
            return refuse(header, peer: peer, .notRegistered, "only registered workers report completion")
        }
        // `ec` absent or 0 means success.
        let failed = header.errorCode.flatMap { $0.rawValue == 0 ? nil : (header.errorMessage ?? "failed") }
        done[header.sender] = (header.name ?? "", failed)
        if let failed {
            fail("\(member.info.name) failed: \(failed)")
        } else if done.count == settings.workers {
            shutDown()
        }
    }

    func fail(_ message: String) {
        if failure == nil {
            failure = message
            logger.error("job failed: \(message)")
        }
        shutDown()
    }

    func shutDown() {
        if case .shuttingDown = phase { return }
        if case .finished = phase { return }
        phase = .shuttingDown(deadline: now + settings.deadlines.shutdown)
        // Foreign clients are told too, but not waited for: they may already be gone.
        awaitingAck = Set(members.values.filter { $0.info.role != .client }.map(\.info.id))
        for id in members.keys.sorted() {
            guard let member = members[id] else { continue }
            send(Message(header: Header(kind: .shutdown, sender: .manager, requestID: 0, errorMessage: failure)), to: member.peer)
        }
        stopWaitingJoiners()
        if awaitingAck.isEmpty { finish() }
    }

    /// A `shutdown` that could not be sent: the node's connection is gone (it exited, as nodes do
    /// on Ctrl-C under `zps run`), so no acknowledgement will come, and the job's end does not wait
    /// the shutdown deadline for one.
    func shutdownUndeliverable(to peer: PeerAddress) {
        guard case .shuttingDown = phase else { return }
        let gone = awaitingAck.filter { members[$0]?.peer == peer }
        guard !gone.isEmpty else { return }
        awaitingAck.subtract(gone)
        if awaitingAck.isEmpty { finish() }
    }

    /// Shuts the job down from outside (SIGTERM), with `reason` as its failure.
    public func abort(_ reason: String) {
        fail(reason)
    }

    func finish() {
        guard case .shuttingDown = phase else { return }
        let unacknowledged = awaitingAck.compactMap(awaitedName).sorted()
        if !unacknowledged.isEmpty {
            logger.warning("no shutdown acknowledgement from \(unacknowledged.joined(separator: ", ")) within \(settings.deadlines.shutdown.secondsText)")
        }
        phase = .finished
        logger.notice("manager: \(tableTraffic)")
        onFinish(report(unacknowledged: unacknowledged))
        directives.append(.stop)
    }

    func report(unacknowledged: [String]) -> JobReport {
        let summaries = (0..<settings.workers).map { rank -> String in
            guard let entry = done[id(role: .worker, rank: rank)] else { return "worker-\(rank): did not finish" }
            return "worker-\(rank): " + (entry.failure.map { "FAILED: \($0)" } ?? entry.summary)
        }
        return JobReport(workerSummaries: summaries, failure: failure, unacknowledged: unacknowledged, recoveries: recoveries)
    }

    // MARK: Replies

    func refuse(_ header: Header, peer: PeerAddress, _ code: ErrorCode, field: String = "k", _ text: String) {
        // A peer retrying a refused request must not flood the log: the 1st, 2nd, 4th, 8th, … refusal.
        refusals += 1
        if refusals & (refusals - 1) == 0 {
            logger.warning("manager: \(refusals) refusal(s) so far; the latest: \(header.kind) from \(peer): \(text)")
        }
        send(Message(header: header.errorReply(from: .manager, WireError(code, field: field, text))), to: peer)
    }

    /// Sends `message` to `peer`; a failed send is logged (heartbeat deadlines deal with a node
    /// that cannot be reached).
    func send(_ message: Message, to peer: PeerAddress) {
        directives.append(.sendFrames(MessageCodec.encode(message), to: peer, onFailure: .logged))
    }
}
