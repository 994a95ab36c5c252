import ZeroMQ

/// A server's part in a join (docs/FAULT-TOLERANCE.md, "Joins"): cutting its stores where the
/// catch-up table cuts its segments, draining the segments whose chain is about to change, and
/// writing results sent before a cut.
extension ServerCore {
    /// The ranges this server holds, as primary or replica, before a table changes them.
    var heldRanges: [KeyRange] {
        guard let served = tables.values.first else { return [] }
        return served.stores.map(\.range) + served.replicas.map(\.range)
    }

    /// Cuts every store holding one of `segments` and more along them, with the record of the
    /// pushes whose results each piece holds (a join placed the joiner's tokens inside them).
    func cutStores(along segments: [KeyRange]) {
        for (id, served) in tables {
            let before = served.stores.map(\.range) + served.replicas.map(\.range)
            served.split(toFit: segments)
            let after = served.stores.map(\.range) + served.replicas.map(\.range)
            for range in before where !after.contains(range) {
                let pieces = after.filter { range.contains($0) }
                appliedOrigins.split(table: id, range: range, into: pieces)
                logger.info("\(link.settings.name) cut \(range) of table '\(served.spec.name)' into \(pieces.count) segments")
            }
        }
    }

    /// Follows the drains of a new table: the segments whose chain this server heads but which its
    /// `ranges` do not list are drained — pushes and pulls on them are refused until the switch —
    /// and each is reported once everything applied to it is acknowledged by its whole chain.
    func updateDrains(heads: Set<KeyRange>, served: [KeyRange]) {
        let drained = heads.subtracting(served)
        draining = Dictionary(uniqueKeysWithValues: drained.map { ($0, draining[$0] ?? false) })
        if !drained.isEmpty {
            logger.info("\(link.settings.name) drains \(drained.sorted { $0.lowerBound < $1.lowerBound }.map(\.description).joined(separator: ", "))")
            refuseIterationsWaiting(on: drained, sendAgainBy: tableVersion + 1)
        }
        reportDrained()
    }

    /// Tells the manager (`replicaReady` under the drain table) of every draining segment whose
    /// results are all acknowledged down its chain.
    func reportDrained() {
        for (range, reported) in draining where !reported && !replication.hasUnacknowledged(overlapping: range) {
            draining[range] = true
            var header = Header(kind: .replicaReady, keyRange: range)
            header.tableVersion = tableVersion
            link.send(header, into: &directives)
        }
    }

    /// Refuses a request that touches a segment being drained: the sender sends it again by the
    /// next table (`staleTable`, whose `tv` the reply sets one above this server's table).
    func refuseIfDraining(_ slices: [ServedTable.Slice], table: ServedTable) throws(WireError) {
        guard !draining.isEmpty else { return }
        for slice in slices { try refuseIfDraining(table.stores[slice.store].range) }
    }

    /// Refuses a request naming a key range — a range pull or a range function — that overlaps a
    /// segment being drained, as ``refuseIfDraining(_:table:)`` refuses keys: a function run there
    /// now would change values the drain has already reported as held by the whole chain, and a
    /// range pull would read the old primary while the worker holds the segment's pushes.
    func refuseIfDraining(_ range: KeyRange) throws(WireError) {
        guard !draining.isEmpty else { return }
        for segment in draining.keys where !segment.intersection(range).isEmpty {
            throw WireError(
                .staleTable, field: "tv",
                "\(segment) is being handed over; send it again by node table version \(tableVersion + 1)")
        }
    }

    /// Writes a predecessor's replicate, which may span several of this server's segments — a
    /// bundle of the results of several of them (``ReplicateBundle``), or a result sent before a
    /// join cut its segment — and passes each piece on down its chain.
    func writePieces(_ message: Message, table: ServedTable) throws {
        let header = message.header
        let pieces = try table.replicaPieces(for: message)
        for piece in pieces {
            guard replication.chain(containing: piece.store.range)?.predecessor(of: link.nodeID) == header.sender else {
                throw WireError(
                    .invalidRequest, field: "s", "\(header.sender) is not the predecessor of \(link.nodeID) in the chain of \(piece.store.range)")
            }
        }
        if pieces.count == 1 {
            let range = pieces[0].store.range
            pieces[0].store.write(replicate: message)
            for origin in header.origins { appliedOrigins.insert(origin, table: header.table, range: range) }
            table.applyClockRecords(header.clockRecords, to: range)
            perform(replication.wrote(message, range: range, from: header.sender))
            return
        }
        // Written in place; only a piece that goes on down a chain is copied out.
        var onward: [(range: KeyRange, message: Message)] = []
        table.applyClockRecords(header.clockRecords, toEach: pieces.map(\.store.range))
        for piece in pieces {
            let range = piece.store.range
            piece.store.write(replicate: message, keys: piece.keys)
            for origin in header.origins { appliedOrigins.insert(origin, table: header.table, range: range) }
            guard replication.successor(for: range) != nil else { continue }
            var onwardPiece = message.replicatePiece(keys: piece.keys)
            // A bsp store that got none of the keys passes the iteration on alone, for its segment.
            if piece.keys.isEmpty { onwardPiece.header.segments = [range] }
            onward.append((range, onwardPiece))
        }
        perform(replication.wrote(pieces: onward, requestID: header.requestID, from: header.sender))
    }
}
