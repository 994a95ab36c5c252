import Logging
import ZeroMQ

/// Chain replication on a server (docs/FAULT-TOLERANCE.md): following the chains of each new node
/// table, forwarding what pushes changed, writing what a predecessor forwards, and copying ranges
/// to new replicas.
extension ServerCore {
    /// Follows the replica chains of a new node table: a range this server now heads, which it held
    /// as a replica, is promoted (its values and updater state serve at once, nothing is copied);
    /// ranges it no longer holds are freed; what it had sent down a chain that changed is sent again
    /// to the new next server, or counts as held where it is now the tail. A join's tables also
    /// cut segments (the stores follow), drain segments (``updateDrains(heads:served:)``), and move
    /// a primary to a replica. `held` are the ranges this server held before the table.
    func reconfigureChains(_ table: NodeTable, held: [KeyRange]) throws {
        // What was applied under the old chains goes down them first.
        flushReplication()
        nodeTable = table
        tableVersion = table.version
        guard !table.chains.isEmpty, let me = table.node(link.nodeID) else { return }
        let mine = table.chains.filter { $0.nodes.contains(link.nodeID) }
        cutStores(along: mine.map(\.range))
        let primaries = Set(mine.filter { $0.nodes.first == link.nodeID }.map(\.range))
        batch.keep(only: primaries)
        let replicaRanges = Set(table.chains.filter { $0.predecessor(of: link.nodeID) != nil }.map(\.range))
        var handedOver: Set<KeyRange> = []
        for served in tables.values {
            for range in replicaRanges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
                if served.stores.contains(where: { $0.range == range }) {
                    served.demote(range)
                    logger.notice("\(link.settings.name) hands \(range) of table '\(served.spec.name)' over and keeps it as a replica")
                } else {
                    served.addReplica(range)
                }
            }
            for range in primaries where !served.stores.contains(where: { $0.range == range }) {
                guard served.promote(range) else {
                    throw NodeFailure("the node table makes \(link.settings.name) the primary of \(range), which it does not hold")
                }
                logger.notice("\(link.settings.name) took over \(range) of table '\(served.spec.name)' from its replica")
            }
            served.keepOnly(primaries: primaries, replicaRanges: replicaRanges)
            handedOver.formUnion(served.stopCountingSegmentsNotHeaded())
        }
        // The drain took out every bsp push and pull waiting on a handed-over segment; whatever
        // still does goes back to its sender the same way.
        if !handedOver.isEmpty { refuseIterationsWaiting(on: handedOver, sendAgainBy: table.version) }
        let (chainDirectives, newSuccessors) = replication.reconfigure(table.chains, version: table.version, members: Set(table.nodes.map(\.id)))
        perform(chainDirectives)
        // A new next server gets the whole range, part by part between requests.
        copying.removeAll { copy in !replication.isCopying(copy.range) || newSuccessors.contains { $0.0 == copy.range } }
        // A server that did not hold a range is receiving it itself: the copy its predecessor
        // sends passes through it to the next server, as results do.
        for (range, successor) in newSuccessors where held.contains(where: { $0.contains(range) }) {
            let copies = tables.keys.sorted().compactMap { id in
                RangeCopy(of: range, in: tables[id]!, origins: appliedOrigins.recent(table: id, range: range))
            }
            let parts = copies.reduce(0) { $0 + $1.partCount }
            logger.info("\(link.settings.name) copies \(range) to \(successor) in \(parts) part(s)")
            perform(replication.beginCopy(range, version: table.version, parts: parts))
            copying += copies
        }
        sendCopyParts()
        updateDrains(heads: primaries, served: me.ranges)
    }

    /// Sends the next few parts of the ranges being copied to new replicas, as long as few of the
    /// copy's messages are unacknowledged (``copyMessagesInFlight``).
    func sendCopyParts() {
        var budget = Self.copyPartsPerTurn
        while budget > 0, !copying.isEmpty,
            replication.unacknowledgedCopyMessages(of: copying[0].range) < Self.copyMessagesInFlight
        {
            guard let table = tables[copying[0].table], let part = copying[0].nextPart(from: table) else {
                copying.removeFirst()
                continue
            }
            perform(replication.sendCopyPart(part, of: copying[0].range))
            if copying[0].isDone { copying.removeFirst() }
            budget -= 1
        }
    }

    /// Carries out what the chain replication says.
    func perform(_ replicationDirectives: [ChainReplication.Directive]) {
        for directive in replicationDirectives {
            switch directive {
            case .send(let message, let server):
                guard let endpoint = nodeTable?.node(server)?.endpoint else { continue }
                send(message, to: .endpoint(endpoint))
            case .release(let held):
                send(held.reply, to: held.peer)
                if orderedSenders.contains(held.sender) {
                    deduplicator.recordReply(sender: held.sender, requestID: held.requestID, reply: kept(held.reply))
                }
            case .replicaReady(let range, let version):
                var header = Header(kind: .replicaReady, keyRange: range)
                header.tableVersion = version
                link.send(header, into: &directives)
            }
        }
    }

    /// Sends the results of the pushes applied since the last flush down their chains. Every range
    /// of the flush gets one result sequence, above any of theirs, so that one number orders the
    /// flush's results on every range it touches, whichever server flushed them before.
    func flushReplication() {
        guard !batch.isEmpty || replication.hasHeldReplies else { return }
        let parts = batch.take()
        let sequence = 1 + parts.reduce(0) { highest, part in max(highest, tables[part.table]?.resultSequence(of: part.range) ?? 0) }
        let results = parts.flatMap { part in
            tables[part.table]?.results(
                range: part.range, keys: part.keys, origins: part.origins, clock: part.clockRecords, sequence: sequence) ?? []
        }
        perform(replication.flush(results: results))
    }

    /// Sends the batch down the chains at once when it holds ``batchKeyLimit`` keys or
    /// ``batchPushLimit`` pushes to one range.
    func flushReplicationIfFull() {
        if batch.keyCount >= Self.batchKeyLimit || batch.mostOriginsPerRange >= Self.batchPushLimit { flushReplication() }
    }

    /// The input ran dry: what the pushes since the last flush made goes down the chains now,
    /// unless the previous flush is still unacknowledged (group commit). Pushes that come while a
    /// flush travels down the chain gather into the next one, which goes once its acknowledgement
    /// has come and the messages queued behind that acknowledgement are handled too: the busier
    /// the server, the more pushes a flush covers and the more often a key changed by several of
    /// them goes once, while a lone push goes at once. A batch of ``batchKeyLimit`` keys goes
    /// without waiting, and every tick flushes what is there.
    func drained() {
        if !replication.awaitsFlushAcknowledgement { flushReplication() }
        if !copying.isEmpty { sendCopyParts() }
    }

    /// A successor acknowledged a replicate: replies it held are released and a copy in progress
    /// sends its next parts. The pushes gathered meanwhile wait for the input to run dry
    /// (``drained()``): pushes queued behind the acknowledgement go in the same flush (on the
    /// default job, 9% fewer replicates and 5% fewer keys sent than flushing at once).
    func acknowledgedReplicate(_ header: Header) {
        perform(replication.acknowledged(header.requestID, by: header.sender))
        if !copying.isEmpty { sendCopyParts() }
        if !draining.isEmpty { reportDrained() }
    }

    /// Writes a predecessor's replicate into this server's replica of its range, then forwards it
    /// down the chain or, at the tail, acknowledges it.
    func writeReplicate(_ message: Message) throws {
        let header = message.header
        guard let table = tables[header.table] else {
            throw WireError(.unknownTable, field: "t", "no table with id \(header.table); tables: \(tables.keys.sorted())")
        }
        try writePieces(message, table: table)
    }

    /// The results this server sent down its replica chains: keys, and payload bytes (keys and
    /// entries frames, headers not counted), forwarded replicates and resends included.
    public var replicationTraffic: (keys: Int, bytes: Int) {
        (replication.replicatedKeys, replication.replicatedBytes)
    }

    /// The stored keys of `range` of table `table` this server holds, as primary or as replica, and
    /// their entries — values and updater state (FTRL's z and n), as a replicate carries them
    /// (`nil` when it holds no such store): how the simulator compares a chain's copies.
    func storedEntries(table: UInt32, range: KeyRange, replica: Bool) -> (keys: [UInt64], entries: [Float])? {
        guard let served = tables[table], let store = (replica ? served.replicas : served.stores).first(where: { $0.range == range })
        else { return nil }
        let keys = store.storedKeys(in: range)
        let entries = [Float](unsafeUninitializedCapacity: keys.count * store.entryWidth) { output, initialized in
            keys.withUnsafeBytes { store.readEntries(keys: $0.baseAddress!, count: keys.count, into: output.baseAddress!) }
            initialized = keys.count * store.entryWidth
        }
        return (keys, entries)
    }

    /// The vector clock of the store of `range` of table `table`, primary or replica, as the records
    /// of its entries that are not 0 (`nil` when it holds no such store): how the simulator
    /// compares a chain's clocks.
    func storedClock(table: UInt32, range: KeyRange) -> [ClockRecord]? {
        guard let served = tables[table], served.store(holding: range) != nil else { return nil }
        return served.clockRecords(of: range, in: range, limit: .max)
    }

    /// The ranges of `table` this server holds as primary and as replica.
    func heldRanges(table: UInt32) -> (primaries: [KeyRange], replicas: [KeyRange]) {
        guard let served = tables[table] else { return ([], []) }
        return (served.stores.map(\.range), served.replicas.map(\.range))
    }
}
