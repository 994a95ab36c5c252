import ZeroMQ

/// A joining server whose join was abandoned (docs/FAULT-TOLERANCE.md, "Joins"): another server
/// died while it joined, and the manager plans its join again once the recovery's copies are done.
/// Meanwhile the node tables do not list it. It held no segment alone, so it drops what it received
/// and serves nothing until a table lists it again; then it joins as any joiner does.
extension ServerCore {
    /// A whole node table that does not list this server: its partial copies, the record of the
    /// pushes they held and its part in the chains are dropped (the chains no longer hold it, and
    /// the join planned anew copies its segments whole), and it waits for a table that lists it,
    /// in which ``configure(_:)`` creates its stores afresh, under the id that table gives it.
    ///
    /// - Throws: ``NodeFailure`` when it is the primary of a range: a joiner never is before its
    ///   join completes, so the manager took out a server that served, which stops (crash-stop).
    func leaveAbandonedJoin(_ table: NodeTable) throws {
        if let served = tables.values.first, let range = served.stores.first?.range {
            throw NodeFailure(
                "the manager's node table version \(table.version) does not list \(link.settings.name), the primary of \(range): it was taken out")
        }
        let dropped = heldRanges.count
        tables = [:]
        appliedOrigins = AppliedOrigins()
        batch = ReplicationBatch()
        copying = []
        draining = [:]
        replication = replication.restarted(as: link.nodeID)
        listedSince = nil
        nodeTable = table
        tableVersion = table.version
        update(table)
        logger.notice(
            "\(link.settings.name) is not in node table version \(table.version): its join was abandoned; it dropped the \(dropped) segment(s) it was receiving and waits to join again")
        serveHeld()
    }

    /// Whether `header`'s message belongs to a join that was abandoned, and is dropped. While this
    /// server waits to join again, replicates and their acknowledgements are (their senders forgot
    /// it with the table that left it out) and data requests are refused (no worker routes to a
    /// server that heads no chain; one routed by an older table is sent again by the newer one).
    /// Once a table lists it again, a replicate made under a table from before that one (`tv`
    /// below it) was sent for the abandoned join: its copy is not part of the new one.
    func isLeftFromAbandonedJoin(_ header: Header) throws(WireError) -> Bool {
        guard let listedSince else {
            switch header.kind {
            case .replicate, .replicateAck:
                return true
            case .push, .pull, .rangeFunction:
                throw WireError(.keyOutOfRange, field: "k", "\(link.settings.name) serves no range: it waits to join the job again")
            default:
                return false
            }
        }
        return header.kind == .replicate && (header.tableVersion ?? 0) < listedSince
    }
}
