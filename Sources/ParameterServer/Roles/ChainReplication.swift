/// One server's part in chain replication (van Renesse and Schneider, OSDI 2004), applied after
/// aggregation (Li et al., OSDI 2014, section 4.4): events in, directives out, no I/O.
///
/// Each key range lives on a chain of servers, primary first (``ReplicaChain``). Workers send
/// pushes to the primary only. The primary applies pushes as they come and, at each flush, forwards
/// their *result* — the stored values and updater state of every key they changed, each key once
/// (``ReplicationBatch``) — to the next server of the chain, which writes it and forwards it again;
/// the last server (the tail) acknowledges back up the chain. A push is acknowledged to its worker
/// only when every full copy of the chain holds its result, so an acknowledged push survives the
/// loss of any k of the k+1 servers.
///
/// Chain rather than primary-backup (the paper's Fig. 8 copies from the master to every slave):
/// the primary sends one copy whatever k is, and chain replication's invariants give an exact
/// oracle: a server's history of applied results is a prefix of its predecessor's (*update
/// propagation*), and the difference is exactly what the predecessor has sent and not had
/// acknowledged (*in-process requests*, the ``unacknowledged`` list). `ReplicationChain` in
/// Membership/ checks them on a model of a whole chain; the fail-over simulation checks their
/// consequence on the real servers: once nothing is in flight, every replica equals its primary.
///
/// Results are absolute (values, not deltas), and each carries its range's place in the history
/// (``RangeStore/resultSequence``, `ts`). A result sent again after a reconfiguration may reach a
/// server that got it, and later ones, through the old chain (the old tail of a chain whose middle
/// server died): it writes a result only when it holds no later one, so sending again never takes a
/// copy back in time.
struct ChainReplication {
    /// Who waits for a replicate's acknowledgement.
    fileprivate enum Waiter {
        /// The held replies of a flushed batch, by its token.
        case reply(Int)
        /// The predecessor's replicate of this id, acknowledged once ours is.
        case upstream(NodeID, requestID: UInt64)
        /// A part of the copy of a range sent to a new successor.
        case copy(KeyRange)
        /// One piece of a predecessor's replicate that a join's cut split over several chains.
        case upstreamShare(Int)
    }

    /// A replicate sent down a chain and not acknowledged yet: one entry per range it carries (a
    /// bundle's ranges share its request id and are acknowledged together).
    struct Unacknowledged {
        var requestID: UInt64
        var range: KeyRange
        var message: Message
        /// Where `range`'s keys lie in `message` when it is a bundle of several ranges' results
        /// (``ReplicateBundle``): sent again on its own, only they go.
        var piece: Range<Int>?
        fileprivate var waiter: Waiter
        /// A result sent while `range` is copied to the successor also counts toward that copy:
        /// the copy is complete only once the successor has written it too.
        var alsoCopy: KeyRange?
        /// Flushes whose replies wait for this and every earlier message to the same successor
        /// (``HeldReply/behindSent``): acknowledged in order, its acknowledgement covers them all.
        var alsoReleases: [Int] = []
    }

    /// This server's id.
    let me: NodeID
    /// The chains this server belongs to.
    private(set) var chains: [ReplicaChain] = []
    /// The node table version the chains come from, sent with every replicate (`tv`): a server
    /// that has not seen that table yet holds the replicate until it has.
    private(set) var tableVersion: UInt64 = 0
    private var nextRequestID: [NodeID: UInt64] = [:]
    /// Per successor, what was sent to it and not acknowledged, in the order sent.
    private(set) var unacknowledged: [NodeID: [Unacknowledged]] = [:]
    /// Replies held until the next flush.
    private var waiting: [HeldReply] = []
    /// Replies of flushed batches, by batch, until every replicate of the batch is acknowledged.
    private var held: [Int: (replies: [HeldReply], outstanding: Int)] = [:]
    /// Per range being copied to a new successor: the parts not acknowledged yet, and the version
    /// of the node table that asked for the copy.
    private var copies: [KeyRange: (outstanding: Int, version: UInt64)] = [:]
    private var nextToken = 0
    /// Per replicate split into pieces: whom to acknowledge once every piece forwarded is.
    private var shares: [Int: (predecessor: NodeID, requestID: UInt64, outstanding: Int)] = [:]
    /// Results counted for the replication traffic report.
    private(set) var replicatedKeys = 0
    private(set) var replicatedBytes = 0

    init(me: NodeID) {
        self.me = me
    }

    /// A fresh part in the chains for this server as `me` — nothing sent, held or copied — that
    /// goes on numbering its replicates to each server where this one left off: an
    /// acknowledgement of a replicate it sent before (in a join that was abandoned) still on its
    /// way cannot pass for one of a replicate it sends now.
    func restarted(as me: NodeID) -> ChainReplication {
        var fresh = ChainReplication(me: me)
        fresh.nextRequestID = nextRequestID
        fresh.replicatedKeys = replicatedKeys
        fresh.replicatedBytes = replicatedBytes
        return fresh
    }

    /// Whether any range of this server has a replica, i.e. whether pushes must wait for the chain.
    var hasSuccessors: Bool { chains.contains { $0.successor(of: me) != nil } }

    /// The chain of the range that contains `range`, if this server is in it.
    func chain(containing range: KeyRange) -> ReplicaChain? {
        chains.first { $0.range.contains(range) || ($0.range == range) }
    }

    /// The next server after this one in the chain of `range`. A range a join cut into several
    /// segments (a result sent under the table before the cut) has the successor its segments'
    /// chains agree on: the catch-up chains keep their servers in their order.
    func successor(for range: KeyRange) -> NodeID? {
        if let chain = chain(containing: range) { return chain.successor(of: me) }
        let overlapping = chains.filter { $0.range.lowerBound < range.upperBound && range.lowerBound < $0.range.upperBound }
        guard let next = overlapping.first?.successor(of: me), overlapping.allSatisfy({ $0.successor(of: me) == next })
        else { return nil }
        return next
    }

    /// Whether a result sent for keys of `range` is still unacknowledged by the next server.
    func hasUnacknowledged(overlapping range: KeyRange) -> Bool {
        unacknowledged.values.contains { entries in
            entries.contains { $0.range.lowerBound < range.upperBound && range.lowerBound < $0.range.upperBound }
        }
    }

    // MARK: Events

    /// Whether replies wait for the next ``flush(results:)``.
    var hasHeldReplies: Bool { !waiting.isEmpty }

    /// Whether a flush still waits for its acknowledgements.
    var awaitsFlushAcknowledgement: Bool { !held.isEmpty }

    /// The primary applied a request whose result goes down a chain: its reply waits for the next
    /// flush and for every replica to acknowledge what that flush sends.
    mutating func hold(_ reply: HeldReply) {
        waiting.append(reply)
    }

    /// Sends the results of the requests applied since the last flush — each key once however
    /// many pushes touched it (replication after aggregation), the whole results of the ranges
    /// with the same next server in one replicate (``ReplicateBundle``), a larger result part by
    /// part — and releases their replies once every replicate is acknowledged (at once without any).
    mutating func flush(results: [(range: KeyRange, message: Message)]) -> [Directive] {
        let replies = waiting
        waiting = []
        var directives: [Directive] = []
        var outstanding = 0
        let token = nextToken
        let bundles = ReplicateBundle.groups(of: results) { successor(for: $0) }
        for bundle in bundles {
            // A next server still receiving its copy waits for the result like any other: it may
            // already be a full copy in the manager's count (the next-but-one of a chain whose
            // middle server died), and its copy is complete only once it has this too.
            if bundle.results.count == 1 {
                let (range, message) = bundle.results[0]
                directives.append(send(message, range: range, to: bundle.successor, waiter: .reply(token), alsoCopy: copying(range)))
                outstanding += 1
                continue
            }
            let (message, pieces) = ReplicateBundle.bundle(bundle.results)
            directives.append(send(message, pieces: pieces, to: bundle.successor, waiter: .reply(token)))
            outstanding += pieces.count
        }
        if replies.contains(where: \.behindSent) {
            // The last message to each successor, whose acknowledgement comes after every earlier one's.
            for successor in unacknowledged.keys.sorted() {
                let last = unacknowledged[successor]!.count - 1
                unacknowledged[successor]![last].alsoReleases.append(token)
                outstanding += 1
            }
        }
        guard outstanding > 0 else { return directives + replies.map { .release($0) } }
        nextToken += 1
        held[token] = (replies, outstanding)
        return directives
    }

    /// A replicate from the predecessor was written to this server's copy: forward it, or, at the
    /// tail, acknowledge it.
    mutating func wrote(_ message: Message, range: KeyRange, from predecessor: NodeID) -> [Directive] {
        let requestID = message.header.requestID
        if let successor = successor(for: range) {
            // Acknowledged upstream once the next server has it, even while it receives its copy
            // (see `flush`).
            return [send(message, range: range, to: successor, waiter: .upstream(predecessor, requestID: requestID), alsoCopy: copying(range))]
        }
        return [acknowledge(requestID, to: predecessor)]
    }

    /// A replicate from the predecessor that a join's cut split over several of this server's
    /// segments was written: each piece goes on down its own chain (a piece being copied to a new
    /// successor as ``wrote(_:range:from:)`` sends it), and the predecessor is acknowledged once
    /// every piece that went on to a full copy is.
    mutating func wrote(pieces: [(range: KeyRange, message: Message)], requestID: UInt64, from predecessor: NodeID) -> [Directive] {
        var directives: [Directive] = []
        var onward: [(range: KeyRange, message: Message, successor: NodeID)] = []
        for piece in pieces {
            guard let successor = successor(for: piece.range) else { continue }
            onward.append((piece.range, piece.message, successor))
        }
        if onward.isEmpty { return [acknowledge(requestID, to: predecessor)] }
        let token = nextToken
        nextToken += 1
        shares[token] = (predecessor, requestID, onward.count)
        for piece in onward {
            directives.append(send(
                piece.message, range: piece.range, to: piece.successor, waiter: .upstreamShare(token), alsoCopy: copying(piece.range)))
        }
        return directives
    }

    /// A successor acknowledged replicate `requestID` (every range of it, when it was a bundle).
    mutating func acknowledged(_ requestID: UInt64, by successor: NodeID) -> [Directive] {
        guard var pending = unacknowledged[successor], pending.contains(where: { $0.requestID == requestID }) else { return [] }
        let entries = pending.filter { $0.requestID == requestID }
        pending.removeAll { $0.requestID == requestID }
        unacknowledged[successor] = pending.isEmpty ? nil : pending
        return entries.flatMap { completeAll($0) }
    }

    /// Everything that waited for `entry`: its waiter, the copy it counts toward, the flushes behind it.
    private mutating func completeAll(_ entry: Unacknowledged) -> [Directive] {
        complete(entry.waiter) + (entry.alsoCopy.map { complete(.copy($0)) } ?? []) + entry.alsoReleases.flatMap { complete(.reply($0)) }
    }

    /// The node table changed the chains. Whatever was sent to a server that is no longer the next
    /// one of its range is sent again to the new next one (a middle server failed: the predecessor
    /// resends its unacknowledged list) or, where this server is now the tail, counts as held by
    /// the whole chain.
    ///
    /// Returns also the ranges whose next server is new: the caller copies each of them whole to
    /// its new successor (``copy(_:version:parts:)``), before anything else is forwarded there.
    ///
    /// A segment a join cut keeps the successor of the segment it lies in. A new successor that was
    /// in the old chain holds a full copy already when it came before this server (only a join's
    /// switch reorders a chain), when this server's old successor is still one of `members` (a
    /// join's switch dropped servers from a chain that was complete, where a fail-over drops the
    /// dead), or when the new chain does not list it as catching up (a middle server died and the
    /// old tail, complete, is next): it gets no copy, only what was unacknowledged — chain
    /// replication's rule for a middle server's failure. One still catching up lost its copy's
    /// source with the dead server and is copied again.
    mutating func reconfigure(
        _ newChains: [ReplicaChain], version: UInt64, members: Set<NodeID> = []
    ) -> (directives: [Directive], newSuccessors: [(KeyRange, NodeID)]) {
        tableVersion = version
        let old = chains
        chains = newChains.filter { $0.nodes.contains(me) }
        let newSuccessors = chains.compactMap { chain -> (KeyRange, NodeID)? in
            guard let next = chain.successor(of: me) else { return nil }
            guard let previous = old.first(where: { $0.range.contains(chain.range) }) else { return (chain.range, next) }
            let oldNext = previous.successor(of: me)
            if oldNext == next { return nil }
            if let mine = previous.nodes.firstIndex(of: me), let theirs = previous.nodes.firstIndex(of: next),
                theirs < mine || oldNext.map(members.contains) ?? false || !chain.isCatchingUp(next)
            {
                return nil
            }
            return (chain.range, next)
        }
        // A copy in progress to a server that is no longer next is superseded by a new one.
        for (range, _) in newSuccessors { copies[range] = nil }
        var directives: [Directive] = []
        let pending = unacknowledged
        unacknowledged = [:]
        // Flushes waiting behind everything sent (``HeldReply/behindSent``) wait, after the change,
        // behind everything still or again unacknowledged, whichever server it now goes to.
        var behind: [Int: Int] = [:]
        for (successor, entries) in pending.sorted(by: { $0.key < $1.key }) {
            for var entry in entries {
                for token in entry.alsoReleases { behind[token, default: 0] += 1 }
                entry.alsoReleases = []
                let next = self.successor(for: entry.range)
                if case .copy = entry.waiter, next != successor {
                    // A superseded copy's part: the new copy sends the range again.
                    continue
                }
                if next == successor {
                    // A range of a bundle whose next server did not change waits for the bundle's
                    // acknowledgement, whatever became of the bundle's other ranges.
                    unacknowledged[successor, default: []].append(entry)
                } else if let next {
                    // A copy to the old next server is superseded: the result counts toward a
                    // copy to the new one only if one is under way. A range of a bundle goes alone.
                    let message = entry.piece.map { entry.message.replicatePiece(keys: $0) } ?? entry.message
                    directives.append(send(message, range: entry.range, to: next, waiter: entry.waiter, alsoCopy: copying(entry.range)))
                } else {
                    directives += complete(entry.waiter)
                }
            }
        }
        for (token, detached) in behind.sorted(by: { $0.key < $1.key }) where held[token] != nil {
            // What else it waits for (its own results) stays counted; one more keeps it until the
            // attachments are counted, and is taken back below.
            held[token]!.outstanding += 1 - detached
            for successor in unacknowledged.keys.sorted() {
                let last = unacknowledged[successor]!.count - 1
                unacknowledged[successor]![last].alsoReleases.append(token)
                held[token]!.outstanding += 1
            }
            directives += complete(.reply(token))
        }
        return (directives, newSuccessors)
    }

    /// Starts copying `range` to its new successor in `parts` parts (``RangeCopy``), sent with
    /// ``sendCopyPart(_:of:)``; once every part is acknowledged the successor holds a full copy, and
    /// ``Directive/replicaReady(_:version:)`` follows (at once for a range with nothing stored).
    mutating func beginCopy(_ range: KeyRange, version: UInt64, parts: Int) -> [Directive] {
        guard successor(for: range) != nil else { return [] }
        guard parts > 0 else { return [.replicaReady(range, version: version)] }
        copies[range] = (parts, version)
        return []
    }

    /// Sends one part of the copy of `range` to its successor; nothing when that copy was superseded.
    mutating func sendCopyPart(_ part: Message, of range: KeyRange) -> [Directive] {
        guard copies[range] != nil, let successor = successor(for: range) else { return [] }
        return [send(part, range: range, to: successor, waiter: .copy(range))]
    }

    /// Whether a copy of `range` is in progress.
    func isCopying(_ range: KeyRange) -> Bool { copies[range] != nil }

    /// How many messages sent for the copy of `range` (its parts, and the results forwarded while
    /// it runs) the successor has not acknowledged yet.
    func unacknowledgedCopyMessages(of range: KeyRange) -> Int {
        guard copies[range] != nil, let successor = successor(for: range) else { return 0 }
        return unacknowledged[successor]?.reduce(0) { count, entry in
            if case .copy(let copied) = entry.waiter, copied == range { count + 1 } else { count + (entry.alsoCopy == range ? 1 : 0) }
        } ?? 0
    }

    // MARK: Parts

    /// `range` when it is being copied to its next server, counting one more message of the copy;
    /// `nil` otherwise.
    private mutating func copying(_ range: KeyRange) -> KeyRange? {
        guard copies[range] != nil else { return nil }
        copies[range]!.outstanding += 1
        return range
    }

    private mutating func send(
        _ message: Message, range: KeyRange, to successor: NodeID, waiter: Waiter, alsoCopy: KeyRange? = nil
    ) -> Directive {
        let forwarded = stamped(message, for: successor)
        let requestID = forwarded.header.requestID
        unacknowledged[successor, default: []].append(
            Unacknowledged(requestID: requestID, range: range, message: forwarded, waiter: waiter, alsoCopy: alsoCopy))
        replicatedKeys += message.keyCount
        replicatedBytes += (message.keys?.count ?? 0) + (message.values?.count ?? 0)
        return .send(forwarded, to: successor)
    }

    private mutating func complete(_ waiter: Waiter) -> [Directive] {
        switch waiter {
        case .copy(let range):
            guard var copy = copies[range] else { return [] }
            copy.outstanding -= 1
            if copy.outstanding > 0 {
                copies[range] = copy
                return []
            }
            copies[range] = nil
            return [.replicaReady(range, version: copy.version)]
        case .upstream(let predecessor, let requestID):
            return [acknowledge(requestID, to: predecessor)]
        case .upstreamShare(let token):
            guard var share = shares[token] else { return [] }
            share.outstanding -= 1
            if share.outstanding > 0 {
                shares[token] = share
                return []
            }
            shares[token] = nil
            return [acknowledge(share.requestID, to: share.predecessor)]
        case .reply(let token):
            guard var entry = held[token] else { return [] }
            entry.outstanding -= 1
            if entry.outstanding > 0 {
                held[token] = entry
                return []
            }
            held[token] = nil
            return entry.replies.map { .release($0) }
        }
    }

    /// `message` as this server sends it to `successor`: under its own id, the link's next request
    /// id and the table version the chains come from.
    private mutating func stamped(_ message: Message, for successor: NodeID) -> Message {
        let requestID = nextRequestID[successor, default: 1]
        nextRequestID[successor] = requestID + 1
        var forwarded = message
        forwarded.header.sender = me
        forwarded.header.requestID = requestID
        forwarded.header.tableVersion = tableVersion
        return forwarded
    }

    /// Sends a bundle: one message, an entry per range it carries, all under one request id.
    private mutating func send(
        _ message: Message, pieces: [ReplicateBundle.Piece], to successor: NodeID, waiter: Waiter
    ) -> Directive {
        let forwarded = stamped(message, for: successor)
        let requestID = forwarded.header.requestID
        for piece in pieces {
            unacknowledged[successor, default: []].append(Unacknowledged(
                requestID: requestID, range: piece.range, message: forwarded, piece: piece.keys, waiter: waiter,
                alsoCopy: copying(piece.range)))
        }
        replicatedKeys += message.keyCount
        replicatedBytes += (message.keys?.count ?? 0) + (message.values?.count ?? 0)
        return .send(forwarded, to: successor)
    }

    private func acknowledge(_ requestID: UInt64, to predecessor: NodeID) -> Directive {
        .send(Message(header: Header(kind: .replicateAck, sender: me, requestID: requestID)), to: predecessor)
    }
}
