import Logging
import ZeroMQ

/// The requests a server holds before it can serve them: those that come before its first node
/// table, those routed by a newer node table than it has, and those of senders its node table
/// does not list yet. Each is counted in a ``HeldRequestBudget`` while held, and refused with
/// ``ErrorCode/busy`` when its pool is full (docs/PROTOCOL.md section 10).
extension ServerCore {
    /// The pool a held request of `header` counts in: its sender's own when the node table lists
    /// the sender (or it is a server's replication traffic, named by the sender it claims), the
    /// pool of unknown senders otherwise, and for a request whose header does not decode.
    func heldPool(of header: Header?) -> HeldRequestBudget.Pool {
        guard let header, header.sender != .unassigned else { return .unknownSenders }
        if knownSenders.contains(header.sender) || header.kind == .replicate || header.kind == .replicateAck {
            return .sender(header.sender)
        }
        return .unknownSenders
    }

    /// Counts a request about to be held; returns false, after refusing it with `busy`, when its
    /// pool is full. `ordered`: a refusal uses up the request's id in its sender's order.
    func admitHeld(_ frames: [Frame], from peer: PeerAddress, pool: HeldRequestBudget.Pool, ordered: Bool) -> Bool {
        guard let error = heldRequests.hold(pool, bytes: HeldRequestBudget.payloadBytes(of: frames)) else { return true }
        if heldRequests.refusalIsWorthAWarning {
            logger.warning("\(link.settings.name) refused \(heldRequests.refused) request(s) so far for want of room to hold them; last from \(peer): \(error)")
        }
        if ordered { refuse(frames, from: peer, error) } else { refuseUnlisted(frames, from: peer, error) }
        return false
    }

    /// Refuses a request of a sender the node table does not list (yet) with `error`, and keeps
    /// the refusal so that it uses up the request's id once a table lists the sender
    /// (``UnlistedRefusals``).
    func refuseUnlisted(_ frames: [Frame], from peer: PeerAddress, _ error: WireError) {
        guard let header = frames.first.flatMap({ HeaderCodec.identity(of: $0, limits: link.settings.limits) }),
            Self.isDataRequest(header.kind), header.sender != .unassigned, header.requestID >= deduplicator.settings.firstRequestID
        else {
            return reject(frames, from: peer, error)
        }
        let reply = errorMessage(error, to: header, peer: peer)
        unlistedRefusals.keep(.init(
            sender: header.sender, requestID: header.requestID, peer: peer, publicKey: frames.first?.curvePublicKey, reply: reply))
        send(reply, to: peer)
    }

    /// Puts the kept refusals of the senders the node table now lists in their senders' order:
    /// each uses up its id, unless it came from another connection than its sender's (an
    /// impostor's refusal uses up nothing of its victim's, section 7.8).
    func useUpUnlistedRefusals() {
        for refusal in unlistedRefusals.take(where: { orderedSenders.contains($0) }) {
            guard senderBinding.violation(sender: refusal.sender, peer: refusal.peer, publicKey: refusal.publicKey) == nil else { continue }
            _ = deduplicator.refuse(sender: refusal.sender, requestID: refusal.requestID, reply: .message(refusal.reply))
        }
    }

    /// Holds a request that came before this server's first node table (bounded).
    func holdEarly(_ frames: [Frame], from peer: PeerAddress) {
        guard early.count < 10_000 else {
            return refuseUnlisted(frames, from: peer, WireError(.shuttingDown, field: "k", "server is not ready yet and its backlog is full"))
        }
        let header = frames.first.flatMap { HeaderCodec.identity(of: $0, limits: link.settings.limits) }
        let pool = heldPool(of: header)
        guard admitHeld(frames, from: peer, pool: pool, ordered: false) else { return }
        early.append((frames, peer, pool))
    }

    /// Holds a request routed by node table `version`, newer than this server's (bounded).
    func holdUntilTable(_ frames: [Frame], from peer: PeerAddress, header: Header, version: UInt64) {
        guard awaitingTable.count < 10_000 else {
            return refuse(frames, from: peer, WireError(
                .staleTable, field: "tv", "routed by node table version \(version), which this server does not have yet (\(tableVersion))"))
        }
        let pool = heldPool(of: header)
        guard admitHeld(frames, from: peer, pool: pool, ordered: true) else { return }
        awaitingTable.append((frames, peer, version, now, pool))
    }

    /// Holds a request of a sender the node table does not list yet.
    func holdUntilListed(_ frames: [Frame], from peer: PeerAddress, sender: NodeID) {
        guard admitHeld(frames, from: peer, pool: .unknownSenders, ordered: false) else { return }
        awaitingMembership.append((frames, peer, sender, now))
    }

    /// Refuses the held requests that waited longer than the heartbeat timeout.
    func expireHeld() {
        let patience = link.settings.deadlines.heartbeatTimeout
        while let first = awaitingTable.first, first.arrived + patience < now {
            awaitingTable.removeFirst()
            heldRequests.release(first.pool, bytes: HeldRequestBudget.payloadBytes(of: first.frames))
            refuse(first.frames, from: first.peer, WireError(
                .staleTable, field: "tv", "no node table version \(first.version) reached this server (it has \(tableVersion))"))
        }
        while let first = awaitingMembership.first, first.arrived + patience < now {
            awaitingMembership.removeFirst()
            heldRequests.release(.unknownSenders, bytes: HeldRequestBudget.payloadBytes(of: first.frames))
            reject(first.frames, from: first.peer, WireError(
                .notRegistered, field: "s", "\(first.sender) is not in the node table"))
        }
    }

    /// Serves, after a new node table, the held requests it lets through; those of senders it
    /// still does not list stay held.
    func serveHeld() {
        useUpUnlistedRefusals()
        let backlog = early
        early.removeAll()
        for (frames, peer, pool) in backlog {
            heldRequests.release(pool, bytes: HeldRequestBudget.payloadBytes(of: frames))
            serve(frames, from: peer)
        }
        let ahead = awaitingTable
        awaitingTable.removeAll()
        for request in ahead {
            heldRequests.release(request.pool, bytes: HeldRequestBudget.payloadBytes(of: request.frames))
            serve(request.frames, from: request.peer)
        }
        let waiting = awaitingMembership
        awaitingMembership.removeAll()
        for request in waiting {
            if knownSenders.contains(request.sender) {
                heldRequests.release(.unknownSenders, bytes: HeldRequestBudget.payloadBytes(of: request.frames))
                serve(request.frames, from: request.peer)
            } else {
                awaitingMembership.append(request)
            }
        }
    }


    // MARK: - Ahead of the sender's order

    /// Why `incoming`, which the deduplicator would hold until its sender's earlier requests come,
    /// does not fit its sender's pool (`busy`), or `nil` when it fits.
    func admitAhead(_ incoming: Incoming) -> WireError? {
        guard let error = heldRequests.refusal(.sender(incoming.header.sender), bytes: incoming.heldBytes) else { return nil }
        if heldRequests.refusalIsWorthAWarning {
            logger.warning("\(link.settings.name) refused \(heldRequests.refused) request(s) so far for want of room to hold them; last from \(incoming.peer): \(error)")
        }
        return error
    }

    /// Counts `incoming`, which the deduplicator holds now.
    func holdAhead(_ incoming: Incoming) {
        heldRequests.commit(.sender(incoming.header.sender), bytes: incoming.heldBytes)
    }

    /// Takes `incoming`, which the deduplicator held and lets through now, off its sender's count.
    func releaseAhead(_ incoming: Incoming) {
        heldRequests.release(.sender(incoming.header.sender), bytes: incoming.heldBytes)
    }
}

extension ServerCore {
    // MARK: - BSP pushes and pulls

    /// Counts a push or pull of a `bsp` table that will be held until its iteration is applied in
    /// its sender's pool (released when it is answered); throws `busy` when the pool is full.
    func admitHeld(_ message: Message) throws(WireError) {
        let bytes = message.payloadFrames.reduce(0) { $0 + $1.count }
        if let error = heldRequests.hold(.sender(message.header.sender), bytes: bytes) {
            if heldRequests.refusalIsWorthAWarning {
                logger.warning("\(link.settings.name) refused \(heldRequests.refused) request(s) so far for want of room to hold them: \(error)")
            }
            throw error
        }
    }
}

extension ServerCore.Incoming {
    /// The payload bytes the request holds while it waits: its decoded frames.
    var heldBytes: Int {
        guard case .success(let message) = request else { return 0 }
        return message.payloadFrames.reduce(0) { $0 + $1.count }
    }
}
