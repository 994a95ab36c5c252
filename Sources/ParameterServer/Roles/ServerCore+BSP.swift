import Logging
import ZeroMQ

/// `bsp` tables on a server (docs/CONSISTENCY.md): pushes summed per iteration and segment, each
/// acknowledged once its iteration is applied (and, with replicas, held by every copy), pulls held
/// until their iteration is applied.
extension ServerCore {
    /// A push to a `bsp` table: kept toward its iteration in each segment it counts for; the
    /// segment's sum reaches its store once every worker pushed the iteration there. Its
    /// acknowledgement waits for that (`nil`), and goes out from ``perform(_:table:)``; meanwhile
    /// it counts in its sender's budget of held requests (`busy` when that is full).
    func aggregate(_ message: Message, table: Table, slices: [ServedTable.Slice], from peer: PeerAddress) throws -> Message? {
        let header = message.header
        guard let iteration = header.iteration else {
            throw WireError(.missingField, field: "it", "a push to the bsp table '\(table.spec.name)' names its iteration")
        }
        if let name = header.updater, name != table.updater.name {
            throw WireError(
                .invalidRequest, field: "u",
                "the bsp table '\(table.spec.name)' applies each iteration's sum with its own updater '\(table.updater.name)'")
        }
        let segments = try table.segments(countedBy: header, slices: slices)
        for segment in segments { try refuseIfDraining(segment) }
        let origin = header.origin ?? RequestOrigin(server: link.nodeID, sender: header.sender, requestID: header.requestID)
        let reply = ChainReplication.HeldReply(
            reply: filters.encode(acknowledgement(of: header), answering: header), peer: peer, sender: header.sender,
            requestID: header.requestID, behindSent: true)
        // Only a push that waits takes room; one that completes its iteration goes through.
        let waits = table.aggregator!.wouldWait(worker: header.sender, iteration: iteration, segments: segments)
        let held = ServedTable.HeldPush(reply: reply, bytes: message.payloadFrames.reduce(0) { $0 + $1.count }, counted: waits)
        if waits { try admitHeld(message) }
        let directives = table.aggregator!.push(
            from: header.sender, iteration: iteration, segments: segments, resent: header.origin != nil, held)
        if case .rejectPush(let error)? = directives.first {
            if waits { heldRequests.release(.sender(header.sender), bytes: held.bytes) }
            throw error.wireError
        }
        for directive in directives {
            if case .accumulate(let segment, let iteration, _) = directive {
                table.accumulate(
                    message, slices: slices, segment: segment, iteration: iteration, origin: origin,
                    rank: nodeTable?.node(header.sender)?.rank ?? .max)
            }
        }
        perform(directives, table: table)
        return nil
    }

    /// Performs the aggregator's directives that apply sums, acknowledge pushes and answer held
    /// pulls. An applied segment's result goes down its chain like a push's; a push's
    /// acknowledgement waits, where the server has replicas, until every result sent before it is
    /// acknowledged down the chains (its other segments may have gone in an earlier flush).
    func perform(_ aggregatorDirectives: [BSPAggregator<ServedTable.HeldPush, ServedTable.HeldPull>.Directive], table: Table) {
        for directive in aggregatorDirectives {
            switch directive {
            case .applyAggregate(let segment, let iteration):
                guard let applied = table.applyAggregate(segment: segment, iteration: iteration),
                    replication.successor(for: segment) != nil
                else { continue }
                // An iteration that changed no key of the segment still goes down the chain.
                batch.add(table: table.spec.id, range: segment, keys: applied.keys, origins: applied.origins, clock: applied.clock)
            case .acknowledge(let held):
                if held.counted { heldRequests.release(.sender(held.reply.sender), bytes: held.bytes) }
                if replication.hasSuccessors {
                    replication.hold(held.reply)
                } else {
                    perform([ChainReplication.Directive.release(held.reply)])
                }
            case .servePull(let held):
                heldRequests.release(.sender(held.message.header.sender), bytes: held.message.payloadFrames.reduce(0) { $0 + $1.count })
                if let reply = answerHeld(held, table: table).map({ filters.encode($0, answering: held.message.header) }) {
                    send(reply, to: held.peer)
                    if orderedSenders.contains(held.message.header.sender) {
                        deduplicator.recordReply(sender: held.message.header.sender, requestID: held.message.header.requestID, reply: .readAgain)
                    }
                }
            case .accumulate, .rejectPush:
                break
            }
        }
        if replication.hasSuccessors { flushReplicationIfFull() }
    }

    /// A pull of a `bsp` table: answered now when every segment it reads has applied its
    /// iteration, held otherwise (`nil`).
    func pullIteration(_ message: Message, iteration: Int64, table: Table, slices: [ServedTable.Slice], from peer: PeerAddress) throws -> Message? {
        let segments = slices.map { table.stores[$0.store].range }
        let waits = segments.contains { (table.aggregator!.nextIteration(of: $0) ?? .max) <= iteration }
        guard waits else { return pull(message, table: table, slices: slices) }
        try admitHeld(message)
        perform(table.aggregator!.pull(iteration: iteration, segments: segments, ServedTable.HeldPull(message: message, peer: peer)), table: table)
        return nil
    }

    /// Refuses, with `staleTable` and `version`, the bsp pushes and pulls waiting for an iteration
    /// of a segment this server drains for a join (`version` one above its table) or handed over
    /// (its table): no push reaches that segment here any more, so they would wait forever. Their
    /// senders send them again by that table, each segment to its primary then — the drained ones
    /// to the joiner, the others here, where what a push brought is counted already.
    func refuseIterationsWaiting(on drained: Set<KeyRange>, sendAgainBy version: UInt64) {
        for table in tables.values {
            guard let (pushes, pulls) = table.aggregator?.takeWaiting(on: drained) else { continue }
            for push in pushes {
                if push.counted { heldRequests.release(.sender(push.reply.sender), bytes: push.bytes) }
                refuseHeld(push.reply.reply.header, sender: push.reply.sender, peer: push.reply.peer, version: version)
            }
            for pull in pulls {
                heldRequests.release(.sender(pull.message.header.sender), bytes: pull.message.payloadFrames.reduce(0) { $0 + $1.count })
                refuseHeld(pull.message.header, sender: pull.message.header.sender, peer: pull.peer, version: version)
            }
        }
    }

    /// Answers a held request (`header` names its id, table and timestamp) with `staleTable`, and
    /// keeps that answer for a retry.
    private func refuseHeld(_ header: Header, sender: NodeID, peer: PeerAddress, version: UInt64) {
        var reply = errorMessage(
            WireError(.staleTable, field: "tv", "its segment is handed over; send it again by node table version \(version)"),
            to: header, peer: peer)
        reply.header.tableVersion = version
        send(reply, to: peer)
        if orderedSenders.contains(sender) {
            deduplicator.recordReply(sender: sender, requestID: header.requestID, reply: .message(reply))
        }
    }

    func answerHeld(_ held: ServedTable.HeldPull, table: Table) -> Message? {
        do {
            return pull(held.message, table: table, slices: try table.slices(of: held.message))
        } catch let error as WireError {
            return errorMessage(error, to: held.message.header, peer: held.peer)
        } catch {
            return errorMessage(WireError(.internalError, field: "k", "\(error)"), to: held.message.header, peer: held.peer)
        }
    }
}
