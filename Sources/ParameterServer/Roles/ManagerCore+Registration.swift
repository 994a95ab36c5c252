import ZeroMQ

/// Registration: a node asks to be a member from the connection its data requests will come on;
/// the manager checks the request, gives the node its id and, once every server and worker of the
/// topology is there, starts the job.
extension ManagerCore {
    /// A `register` from `peer`, whose connection authenticated with `publicKey` under CURVE: the
    /// node is admitted (its connection recorded, ``ConnectionIdentity``), answered again with the
    /// table when it repeats itself from the same connection, or refused.
    func register(_ header: Header, from peer: PeerAddress, publicKey: CurveKey?) {
        guard let role = header.role, let rank = header.rank, let endpoint = header.endpoint else {
            return refuse(header, peer: peer, .missingField, "register needs role, rank and ep")
        }
        // The connection a node registers from is the only one servers accept its data requests
        // from: it must name itself the same way at every ROUTER (docs/PROTOCOL.md, section 7.8).
        guard let connection = ConnectionIdentity(peer: peer, publicKey: publicKey) else {
            return refuse(
                header, peer: peer, .invalidRequest,
                "register from a connection without a routing id of its own: set ZMQ_ROUTING_ID (the same 1 to 255 bytes, the first not zero) on every DEALER before it connects")
        }
        let nodeID: NodeID
        switch role {
        case .server, .worker:
            if role == .server, Int(rank) >= settings.servers {
                switch phase {
                case .registering, .running:
                    return registerJoiner(rank: rank, endpoint: endpoint, connection: connection, header: header, peer: peer)
                case .shuttingDown, .finished: return refuse(header, peer: peer, .invalidRequest, "the job is ending; server-\(rank) cannot join")
                }
            }
            guard Int(rank) < expected(role) else {
                return refuse(header, peer: peer, .invalidRequest, "\(role)-\(rank) is not in the topology (\(expected(role)) \(role)s)")
            }
            nodeID = id(role: role, rank: Int(rank))
            if let existing = members[nodeID] {
                guard existing.info.endpoint == endpoint else {
                    return refuse(header, peer: peer, .invalidRequest, "\(role)-\(rank) is already registered from \(existing.info.endpoint)")
                }
                guard ConnectionIdentity(existing.info) == connection else {
                    return refuse(header, peer: peer, .invalidRequest, "\(role)-\(rank) is already registered from another connection")
                }
                if table.version > 0 {  // a retried registration: answer it again
                    members[nodeID]?.peer = peer
                    sendTable(to: nodeID)
                }
                return
            }
            // A server of the topology that the manager took out (it died or left) and that was
            // started again, as a StatefulSet restarts its pod: it joins as a new member would.
            if role == .server, case .running = phase, lostServerRanks.contains(rank) {
                return registerJoiner(rank: rank, endpoint: endpoint, connection: connection, header: header, peer: peer)
            }
            guard case .registering = phase else {
                return refuse(header, peer: peer, .invalidRequest, "the job is already running; \(role)-\(rank) cannot join")
            }
        case .client:
            guard case .running = phase else {
                return refuse(header, peer: peer, .invalidRequest, "clients may join once the job is running")
            }
            // Node ids and the node table are bounded where they enter (WireLimits), so that the
            // servers' vector clocks and every node's table stay bounded too.
            let limits = settings.limits
            guard Int(membership.nextNodeID.rawValue) <= limits.maxNodeID, members.count < limits.maxNodes else {
                return refuse(
                    header, peer: peer, .tooLarge, field: "nt.nodes",
                    "the node table is full (\(members.count) of \(limits.maxNodes) nodes, next id \(membership.nextNodeID.rawValue) of at most \(limits.maxNodeID))")
            }
            nodeID = admit(role: role, rank: rank, endpoint: endpoint)
        case .manager:
            return refuse(header, peer: peer, .invalidRequest, "a manager cannot register with a manager")
        }
        members[nodeID] = Member(
            info: NodeInfo(
                id: nodeID, role: role, rank: rank, endpoint: endpoint, routingID: connection.routingID,
                publicKey: connection.publicKey),
            peer: peer, lastHeard: now, registrationRequest: header.requestID)
        if role == .client {
            // Clients may come by the thousand: one line at the 1st, 2nd, 4th, 8th, … of them.
            clientsAdmitted += 1
            if clientsAdmitted & (clientsAdmitted - 1) == 0 {
                logger.info("manager admitted \(clientsAdmitted) client(s) so far; the latest client-\(rank) as \(nodeID) at \(endpoint)")
            }
            publishClient(nodeID)
            return
        }
        logger.info("manager admitted \(role)-\(rank) as \(nodeID) at \(endpoint)")
        if members.values.filter({ $0.info.role != .client }).count == settings.servers + settings.workers {
            assignRanges()
            phase = .running
            // Nodes send heartbeats once they have the table: silence counts from now, not from
            // their registration, however long the last node took to come.
            for id in members.keys { members[id]?.lastHeard = now }
            publishTable()
            logger.info("manager: all \(settings.servers + settings.workers) nodes registered; node table version \(table.version)")
        }
    }

    /// Admits the topology's servers, then its workers, in rank order, under the ids they registered
    /// with, and places the servers on the ring: each takes its share of the key space, in about
    /// `virtualNodes` segments.
    func assignRanges() {
        for role in [NodeRole.server, .worker] {
            for rank in 0..<expected(role) {
                guard let member = members[id(role: role, rank: rank)] else { continue }
                let admitted = admit(role: role, rank: UInt32(rank), endpoint: member.info.endpoint)
                precondition(admitted == member.info.id, "the membership gave \(member.info.name) \(admitted), not \(member.info.id)")
            }
        }
        membership.holdsData = true
        updateRanges()
    }

    /// A member's id from the membership's counter.
    func admit(role: NodeRole, rank: UInt32, endpoint: String) -> NodeID {
        if role == .client { return membership.admitClient(rank: rank, endpoint: endpoint) }
        do {
            return try membership.join(role: role, rank: rank, endpoint: endpoint).node
        } catch {
            preconditionFailure("only the manager cannot join, and it does not register: \(error)")
        }
    }
}
