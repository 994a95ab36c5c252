import Logging

/// A server joining a running job (docs/FAULT-TOLERANCE.md, "Joins"): the manager carries out a
/// ``JoinPlan`` as three node tables — catch up, drain, switch — one join at a time.
extension ManagerCore {
    /// The join being carried out.
    struct JoinInProgress {
        enum Stage {
            /// The catch-up table is out; the newcomers of its chains receive their copies.
            case catchingUp
            /// The drain table (this version) is out; the primaries of these segments have not
            /// reported that everything they applied is held by their whole chain yet.
            case draining(version: UInt64, pending: Set<KeyRange>)
        }

        var plan: JoinPlan
        var name: String
        var stage: Stage
        var started: ContinuousClock.Instant
    }

    /// A server that registered to join, waiting for its turn.
    struct Joiner {
        var rank: UInt32
        var endpoint: String
        var peer: PeerAddress
        var connection: ConnectionIdentity
        var registrationRequest: UInt64
        /// The id it had in a join that was abandoned (``abandonJoin(becauseOf:named:)``): it joins
        /// again under it, and meanwhile gets the node tables and sends heartbeats.
        var id: NodeID? = nil
        /// When it was last heard, for one with an ``id``.
        var lastHeard: ContinuousClock.Instant? = nil
    }

    /// Whether node tables list the chains: always with replication, and from a join on without
    /// (the joiner is a temporary tail of the segments it takes over).
    var listsChains: Bool { settings.replication > 0 || chainsListed }

    /// A server beyond the topology's count registers: it waits for its turn to join (a retried
    /// registration of a waiting joiner changes nothing).
    func registerJoiner(rank: UInt32, endpoint: String, connection: ConnectionIdentity, header: Header, peer: PeerAddress) {
        if let member = members.values.first(where: { $0.info.role == .server && $0.info.rank == rank }) {
            guard member.info.endpoint == endpoint else {
                return refuse(header, peer: peer, .invalidRequest, "server-\(rank) is already a member at \(member.info.endpoint)")
            }
            guard ConnectionIdentity(member.info) == connection else {
                return refuse(header, peer: peer, .invalidRequest, "server-\(rank) is already registered from another connection")
            }
            members[member.info.id]?.peer = peer
            return sendTable(to: member.info.id)
        }
        if let index = joiners.firstIndex(where: { $0.rank == rank }) {
            guard joiners[index].endpoint == endpoint else {
                return refuse(header, peer: peer, .invalidRequest, "server-\(rank) is already waiting to join from \(joiners[index].endpoint)")
            }
            guard joiners[index].connection == connection else {
                return refuse(header, peer: peer, .invalidRequest, "server-\(rank) is already waiting to join from another connection")
            }
            joiners[index].peer = peer
            return
        }
        joiners.append(
            Joiner(rank: rank, endpoint: endpoint, peer: peer, connection: connection, registrationRequest: header.requestID))
        logger.info("manager: server-\(rank) at \(endpoint) asks to join")
        startJoin()
    }

    /// Starts the next waiting join once the job runs and no segment is receiving a copy.
    func startJoin() {
        guard case .running = phase, join == nil, membership.catchingUp.isEmpty, !joiners.isEmpty else { return }
        let joiner = joiners.removeFirst()
        let plan: JoinPlan
        do {
            plan = try JoinPlan.make(joiner: joiner.rank, endpoint: joiner.endpoint, id: joiner.id, in: membership)
        } catch {
            // Told, not dropped in silence: the joiner stops with the reason, and the next one's turn comes.
            let reason = "the join of server-\(joiner.rank) cannot be planned: \(error)"
            logger.error("manager: \(reason)")
            recoveries.append(reason)
            send(Message(header: Header(kind: .shutdown, sender: .manager, requestID: 0, errorMessage: reason)), to: joiner.peer)
            return startJoin()
        }
        members[plan.joiner] = Member(
            info: NodeInfo(
                id: plan.joiner, role: .server, rank: joiner.rank, endpoint: joiner.endpoint,
                routingID: joiner.connection.routingID, publicKey: joiner.connection.publicKey),
            peer: joiner.peer,
            lastHeard: joiner.lastHeard ?? now, registrationRequest: joiner.registrationRequest)
        chainsListed = true
        membership.beginJoin(plan)
        join = JoinInProgress(plan: plan, name: "server-\(joiner.rank)", stage: .catchingUp, started: now)
        updateRanges()
        publishTable()
        let copies = plan.copies.map { "\($0.range) to \(name(of: $0.target))" }
        logger.notice(
            "manager: server-\(joiner.rank) joins \(joiner.id == nil ? "" : "again ")as \(plan.joiner); catching up \(copies.count) copies (\(copies.joined(separator: ", "))); node table version \(table.version)")
        joinProgressed()
    }

    /// A copy report or a drain report came: moves the join to its next step when its step is done.
    func joinProgressed() {
        guard let current = join else { return }
        switch current.stage {
        case .catchingUp:
            guard membership.catchingUp.isEmpty else { return }
            membership.beginDrain()
            let pending = Set(current.plan.drains.map(\.range))
            join?.stage = .draining(version: membership.version, pending: pending)
            updateRanges()
            publishTable()
            logger.info("manager: \(current.name) caught up; draining \(pending.count) segment(s); node table version \(table.version)")
            joinProgressed()
        case .draining(_, let pending):
            guard pending.isEmpty else { return }
            membership.switchChains(to: current.plan.final)
            join = nil
            updateRanges()
            publishTable()
            let share = membership.ring.ranges(of: current.plan.joiner).reduce(UInt64(0)) { $0 + $1.count }
            let segments = membership.chains.filter { $0.primary == current.plan.joiner }.count
            let line = "\(current.name) (\(current.plan.joiner)) joined in \((now - current.started).secondsText): "
                + "primary of \(segments) segment(s), \(share) keys; node table version \(table.version)"
            recoveries.append(line)
            logger.notice("manager: \(line)")
            startJoin()
        }
    }

    /// `replicaReady` from the primary of a segment being drained, under the drain table: every
    /// result it applied is held by the whole chain.
    func drainReported(_ range: KeyRange, version: UInt64, by sender: NodeID) -> Bool {
        guard case .draining(let drainVersion, var pending)? = join?.stage, version == drainVersion,
            pending.contains(range), membership.chains.first(where: { $0.range == range })?.primary == sender
        else { return false }
        pending.remove(range)
        join?.stage = .draining(version: drainVersion, pending: pending)
        joinProgressed()
        return true
    }

    /// The ranges a server is primary of in the table to publish: the segments whose chain it heads,
    /// except those it drains, which no server lists until the switch.
    func servedRanges(of server: NodeID) -> [KeyRange] {
        var draining: Set<KeyRange> = []
        if case .draining(_, let pending)? = join?.stage { draining = pending }
        return membership.chains.filter { $0.primary == server && !draining.contains($0.range) }.map(\.range)
    }

    /// The join has run longer than `deadlines.join` (a copy or a drain that does not complete):
    /// the joiner is taken out as if it had died — it holds no segment alone, so its segments go
    /// back to their old primaries and nothing is copied — and is told to stop, and the next
    /// waiting joiner's turn comes.
    func dropOverdueJoin() {
        guard let current = join, now - current.started > settings.deadlines.join else { return }
        join = nil
        let joiner = current.plan.joiner
        let plan: RecoveryPlan
        do {
            plan = try RecoveryPlan.make(dead: [joiner], in: membership)
        } catch {
            preconditionFailure("a joiner holds no segment alone: \(error)")
        }
        let step: String
        switch current.stage {
        case .catchingUp: step = "\(membership.catchingUp.count) segment(s) still catching up"
        case .draining(_, let pending): step = "\(pending.count) segment(s) still draining"
        }
        let reason = "\(current.name) did not finish joining within \(settings.deadlines.join.secondsText) (\(step)): the join is dropped"
        if let member = members.removeValue(forKey: joiner) {
            send(Message(header: Header(kind: .shutdown, sender: .manager, requestID: 0, errorMessage: reason)), to: member.peer)
        }
        adopt(plan, summary: reason, level: .warning)
        startJoin()
    }

    /// A server died while a join runs. The joiner holds no segment alone, so its death only ends
    /// the join (the recovery gives its segments back to their old primaries). Any other death
    /// abandons the join first — the joiner leaves the ring, as if it had died, and the recovery
    /// then starts from the chains before the join — but the joiner is not stopped: it goes back to
    /// the front of the waiting joiners under its id, gets the node tables (which do not list it,
    /// so it drops what it received) and is answered its heartbeats while it waits, and
    /// ``startJoin()`` plans its join again against the membership after the recovery, once the
    /// recovery's copies are done.
    func abandonJoin(becauseOf dead: NodeID, named deadName: String) {
        guard let current = join else { return }
        join = nil
        let joiner = current.plan.joiner
        guard dead != joiner else {
            logger.warning("manager: \(current.name) died while joining; the join is dropped")
            return
        }
        do {
            _ = try membership.remove(joiner, mayRejoin: true)
        } catch {
            preconditionFailure("the joiner is a member: \(error)")
        }
        // A joiner's entry always records the connection it registered from.
        guard let member = members.removeValue(forKey: joiner), let connection = ConnectionIdentity(member.info) else { return }
        joiners.insert(
            Joiner(
                rank: member.info.rank, endpoint: member.info.endpoint, peer: member.peer, connection: connection,
                registrationRequest: member.registrationRequest, id: joiner, lastHeard: member.lastHeard),
            at: 0)
        let line = "\(current.name)'s join was abandoned: \(deadName) died while it joined; it joins again as \(joiner) once the recovery's copies are done"
        recoveries.append(line)
        logger.warning("manager: \(line)")
    }

    /// Whether `peer` is a joiner waiting to join again as `id` after an abandoned join: its
    /// heartbeats are answered.
    func isWaitingJoiner(_ id: NodeID, peer: PeerAddress) -> Bool {
        id != .unassigned && joiners.contains { $0.id == id && $0.peer == peer }
    }

    /// A joiner waiting to join again that stopped sending heartbeats died while it waited: it
    /// leaves the queue (its death ends nothing else, it holds nothing).
    func dropSilentJoiners() {
        let silent = joiners.filter { joiner in
            joiner.lastHeard.map { now - $0 > settings.deadlines.heartbeatTimeout } ?? false
        }
        guard !silent.isEmpty else { return }
        joiners.removeAll { joiner in silent.contains { $0.id == joiner.id && $0.rank == joiner.rank } }
        for joiner in silent {
            let line = "server-\(joiner.rank) stopped sending heartbeats while it waited to join again: it is dropped"
            recoveries.append(line)
            logger.warning("manager: \(line)")
        }
    }

    /// The job ends: every waiting joiner is told to stop. One waiting to join again runs like a
    /// member, so it is waited for; one that never had a table is told, as a client is, but not
    /// waited for.
    func stopWaitingJoiners() {
        for joiner in joiners {
            if let id = joiner.id { awaitingAck.insert(id) }
            send(Message(header: Header(kind: .shutdown, sender: .manager, requestID: 0, errorMessage: failure)), to: joiner.peer)
        }
    }

    /// The name of a node the shutdown waits for: a member, or a joiner waiting to join again.
    func awaitedName(_ id: NodeID) -> String? {
        members[id]?.info.name ?? joiners.first { $0.id == id }.map { "server-\($0.rank)" }
    }
}
