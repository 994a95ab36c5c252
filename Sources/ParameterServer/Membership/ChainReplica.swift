/// One server's part in the chain replication of one key range (see ``ReplicationChain``): what a
/// server keeps per range it holds, and the steps it takes on its own.
///
/// Updates are numbered by the head from 1 without gaps, and every replica applies them in order,
/// so a replica's history is `1...lastApplied` and its state is two things: ``lastApplied`` and its
/// ``sent`` list (the shell keeps the payloads of the updates in it, to resend them when its
/// successor fails). Each step returns what to send; the shell sends it and keeps the chain's order
/// (FIFO per link, as ZeroMQ does).
public struct ChainReplica: Hashable, Sendable {
    /// What a forwarded update did on arrival.
    public enum Arrival: Hashable, Sendable {
        /// Applied: forward it on (or acknowledge it, at the tail).
        case applied
        /// Already applied (a resend after a failure): drop it.
        case duplicate
        /// An update is missing before it: the link lost a message. Drop it; the predecessor must
        /// resend from ``expected`` on.
        case gap(expected: UInt64)
    }

    /// The server.
    public var node: NodeID
    /// The last update applied (0 before the first); the history is `1...lastApplied`.
    public internal(set) var lastApplied: UInt64
    /// `Sent`: the updates forwarded downstream that the tail has not acknowledged yet, in order.
    public internal(set) var sent: [UInt64] = []

    /// A replica that has applied every update up to `lastApplied` (0 when new; after a copy, the
    /// last update the copy holds).
    public init(node: NodeID, lastApplied: UInt64 = 0) {
        self.node = node
        self.lastApplied = lastApplied
    }

    /// The last update this replica knows every replica has (from the tail's acknowledgements).
    public var acknowledgedThrough: UInt64 { sent.first.map { $0 - 1 } ?? lastApplied }

    /// As head, applies the next aggregated update and returns its sequence number. With a
    /// successor (`forwards`), the update goes into ``sent`` and must be forwarded.
    public mutating func applyAsHead(forwards: Bool) -> UInt64 {
        lastApplied += 1
        if forwards { sent.append(lastApplied) }
        return lastApplied
    }

    /// Update `sequence` arrived from the predecessor. When applied and the replica is not the tail
    /// (`forwards`), it goes into ``sent`` and must be forwarded; at the tail it must be acknowledged.
    public mutating func receiveForward(_ sequence: UInt64, forwards: Bool) -> Arrival {
        if sequence <= lastApplied { return .duplicate }
        if sequence > lastApplied + 1 { return .gap(expected: lastApplied + 1) }
        lastApplied = sequence
        if forwards { sent.append(sequence) }
        return .applied
    }

    /// The tail has every update up to `through`: they leave ``sent``.
    public mutating func receiveAcknowledgement(through: UInt64) {
        sent.removeAll { $0 <= through }
    }

    /// The successor failed and this replica is the tail now: every update it has is on every
    /// replica. Returns the update to acknowledge upstream (or to complete, at the head).
    public mutating func becomeTail() -> UInt64 {
        sent = []
        return lastApplied
    }

    /// The successor failed and the next one, which has applied up to `successorLastApplied`, takes
    /// its place: the updates to resend to it, in order.
    public func updatesToResend(successorLastApplied: UInt64) -> [UInt64] {
        sent.filter { $0 > successorLastApplied }
    }

    /// The predecessor failed and a new one takes its place: the acknowledgement to repeat to it, as
    /// the last one may have died with the failed server; `nil` when there is none. `isTail`: this
    /// replica is the tail, whose history is acknowledged as a whole.
    public func acknowledgementToRepeat(isTail: Bool) -> UInt64? {
        let through = isTail ? lastApplied : acknowledgedThrough
        return through > 0 ? through : nil
    }

    /// This replica was the tail and a new server copied its state up to `copiedThrough`: every
    /// replica of the old chain keeps the later updates in ``sent`` until the new tail acknowledges
    /// them. Returns them, in order; the old tail forwards them.
    public mutating func handOver(copiedThrough: UInt64) -> [UInt64] {
        precondition(copiedThrough <= lastApplied, "a copy cannot hold update \(copiedThrough) beyond \(lastApplied)")
        sent = copiedThrough < lastApplied ? Array((copiedThrough + 1)...lastApplied) : []
        return sent
    }
}
