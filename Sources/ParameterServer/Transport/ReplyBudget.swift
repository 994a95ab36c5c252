import Logging
import ZeroMQ

/// The bytes of replies a ROUTER has queued for each peer, and the replies it dropped because a
/// peer does not read them.
///
/// ZeroMQ's high-water mark bounds the messages queued per peer, not their size: a thousand pull
/// replies of a million values are 4 GB. Every payload frame a ROUTER sends is counted in its
/// peer's ``SendLedger`` until libzmq has written it out (or dropped it with the connection), and
/// a reply that would take a peer beyond ``PeerLimits/replyBytesPerPeer`` is dropped instead. A
/// reply to a peer with nothing queued always goes: a peer that reads gets any reply, however large.
///
/// Dropping is what a ROUTER does anyway at its high-water mark; the requester learns nothing and
/// sends its request again after its timeout (docs/PROTOCOL.md, "Limits per peer"). Drops are
/// counted and warned about at the 1st, 2nd, 4th, 8th, … so a peer that keeps asking does not
/// flood the log. A peer whose queue is empty again is forgotten; if replies to it were dropped,
/// the process hands its freed memory back to the system (``AllocatorTuning/releaseFreeMemory()``),
/// since the queue it built up may have been large.
final class ReplyBudget {
    private final class Peer {
        let ledger = SendLedger()
        var dropped = false
    }

    /// The most bytes of replies queued for one peer.
    let limit: Int
    private var peers: [[UInt8]: Peer] = [:]
    private var last: (identity: [UInt8], peer: Peer)?
    /// Replies dropped: the peer's high-water mark was reached, or its byte budget.
    private(set) var droppedReplies = 0
    /// The payload bytes of the dropped replies.
    private(set) var droppedBytes = 0
    /// The tracked peers whose replies were dropped: only for them is ``room(for:)`` looked up.
    private var droppedToPeers = 0
    private var nextForgetting: ContinuousClock.Instant?
    private let name: String
    private let logger: Logger

    init(limit: Int, name: String, logger: Logger) {
        self.limit = limit
        self.name = name
        self.logger = logger
    }

    /// The peers with a ledger (those sent to since they were last found with nothing queued).
    var trackedPeers: Int { peers.count }

    /// The bytes queued for `identity`.
    func queuedBytes(for identity: [UInt8]) -> Int { peers[identity]?.ledger.queuedBytes ?? 0 }

    /// The ledger to send a reply of `bytes` payload bytes to `identity` with, or `nil` when the
    /// reply must be dropped (then counted as dropped).
    func ledger(for identity: [UInt8], bytes: Int) -> SendLedger? {
        let peer: Peer
        // Replies mostly go to the peer of the previous one: an array comparison, not a hash.
        if let last, last.identity == identity {
            peer = last.peer
        } else if let known = peers[identity] {
            peer = known
            last = (identity, known)
        } else {
            peer = Peer()
            peers[identity] = peer
            last = (identity, peer)
        }
        let queued = peer.ledger.queuedBytes
        guard queued == 0 || queued + bytes <= limit else {
            dropped(to: identity, bytes: bytes, why: "\(queued) bytes of replies are queued for it, the limit is \(limit)")
            return nil
        }
        return peer.ledger
    }

    /// The most payload bytes a reply to `identity` may have now without being dropped, for a peer
    /// whose replies were dropped and that still has replies queued; `nil` when any reply would go
    /// (as far as bytes go). Costs one comparison while no tracked peer had a reply dropped.
    func room(for identity: [UInt8]) -> Int? {
        guard droppedToPeers > 0, let peer = peers[identity], peer.dropped else { return nil }
        let queued = peer.ledger.queuedBytes
        return queued == 0 ? nil : max(0, limit - queued)
    }

    /// Counts a reply to `identity` that was not sent, for `why`.
    func dropped(to identity: [UInt8], bytes: Int, why: String) {
        if let peer = peers[identity], !peer.dropped {
            peer.dropped = true
            droppedToPeers += 1
        }
        droppedReplies += 1
        droppedBytes += bytes
        if droppedReplies & (droppedReplies - 1) == 0 {
            logger.warning(
                "\(name) dropped \(droppedReplies) replies (\(droppedBytes) bytes) so far to peers that do not read them; last to \(PeerAddress.routed(identity)): \(why)")
        }
    }

    /// Forgets the peers with nothing queued, at most every 100 ms; returns the number forgotten
    /// whose replies had been dropped, after handing freed memory back to the system if any was.
    @discardableResult
    func forgetIdle(now: ContinuousClock.Instant) -> Int {
        if let nextForgetting, now < nextForgetting { return 0 }
        nextForgetting = now + .milliseconds(100)
        guard !peers.isEmpty else { return 0 }
        var recovered = 0
        for (identity, peer) in peers where peer.ledger.queuedBytes == 0 {
            peers.removeValue(forKey: identity)
            if peer.dropped {
                recovered += 1
                droppedToPeers -= 1
            }
        }
        last = nil
        if recovered > 0 {
            AllocatorTuning.releaseFreeMemory()
            logger.notice("\(name) has no reply queued any more for \(recovered) peer(s) whose replies it dropped; freed memory returned to the system")
        }
        return recovered
    }

    /// Logs the totals, if anything was dropped.
    func report() {
        guard droppedReplies > 0 else { return }
        logger.notice("\(name) dropped \(droppedReplies) replies (\(droppedBytes) bytes) in all to peers that did not read them")
    }
}
