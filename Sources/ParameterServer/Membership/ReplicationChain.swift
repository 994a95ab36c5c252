/// The replication of one key range over its ``RangeChain``, as a pure state machine: **chain
/// replication** (van Renesse & Schneider, OSDI'04), applied *after aggregation* (OSDI'14 §4.4).
///
/// Workers send pushes to the head (the range's primary). The head aggregates them and applies the
/// aggregated update; each applied update gets the next sequence number and is forwarded, as the
/// resulting values and updater state (e.g. FTRL's z and n) rather than the gradients, to the next
/// replica, which applies it and forwards it on. The tail acknowledges; acknowledgements travel back
/// up the chain, each replica dropping what the tail has from its ``Replica/sent`` list, and when
/// one reaches the head every replica has the update, so the head acknowledges the pushes to their
/// workers (``Directive/complete(through:)``). Replicating after aggregation costs `k/n` of the push
/// traffic for `n` workers instead of `k`.
///
/// Why a chain rather than the primary-backup of the paper's Fig. 8 (the master copies to all
/// slaves): the head sends one copy instead of `k`, and the chain has two invariants that make every
/// failure a local repair with nothing lost (checked by ``violations()``):
/// - *Update Propagation*: each replica's history is a prefix of its predecessor's;
/// - *Inprocess Requests*: a predecessor's history is its successor's followed by exactly the
///   updates in flight between them (`Hist_pred = Hist_succ ⊕ Sent_pred`).
/// So a head failure makes its successor the head (pushes the dead head had not forwarded were never
/// acknowledged; their workers resend them), a tail failure makes its predecessor the tail (it has
/// everything the chain acknowledged), and a middle failure is repaired by the predecessor resending
/// its ``Replica/sent`` updates the successor lacks. A new server joins at the tail after copying
/// the tail's state.
///
/// The value models the whole chain, including the FIFO link between neighbours (ZeroMQ keeps a
/// link's order), so that the simulator and tests can check the invariants after every event. The
/// shell performs the ``Directive``s (send the update's values to the next replica, acknowledge
/// pushes) and reports each message's arrival with ``deliver(from:to:)``. Each step of a server is a
/// ``ChainReplica`` method, which a server role uses on its own for each range it holds.
public struct ReplicationChain: Hashable, Sendable {
    /// One server's copy of the range: its own state and the model's record of what it applied.
    public struct Replica: Hashable, Sendable {
        /// What the server itself keeps and the steps it takes.
        public internal(set) var state: ChainReplica
        /// `Hist`: the updates applied, in order. The model's record, for the invariants; a server
        /// keeps only ``state``, as its history is always `1...lastApplied`.
        public internal(set) var history: [UInt64]
        /// For a server that joined as tail: how many updates the chain had acknowledged when it
        /// joined. Until its history is that long it is catching up and does not count as a copy.
        public internal(set) var catchUpTarget: UInt64 = 0

        /// The server.
        public var node: NodeID { state.node }
        /// `Sent`: updates forwarded downstream that the tail has not acknowledged yet, in order.
        public internal(set) var sent: [UInt64] {
            get { state.sent }
            set { state.sent = newValue }
        }
        /// The sequence number of the last update applied, 0 before the first.
        public var lastApplied: UInt64 { state.lastApplied }
        /// The last update this replica knows every replica has, 0 before the first.
        public var acknowledgedThrough: UInt64 { state.acknowledgedThrough }
        /// Whether the replica joined and still lacks updates acknowledged before it joined.
        public var isCatchingUp: Bool { UInt64(history.count) < catchUpTarget }
    }

    /// A message between two neighbours of the chain.
    public enum Message: Hashable, Sendable {
        /// An applied update's values and updater state, going downstream.
        case forward(UInt64)
        /// The tail has every update up to this one, going upstream.
        case acknowledge(through: UInt64)
    }

    /// A link between two servers, in one direction.
    public struct Link: Hashable, Sendable, CustomStringConvertible {
        /// The sender.
        public var from: NodeID
        /// The receiver.
        public var to: NodeID
        /// `node 1 → node 2`.
        public var description: String { "\(from) → \(to)" }
    }

    /// What the shell must do.
    public enum Directive: Hashable, Sendable {
        /// Send update `sequence` (its values and updater state) from one replica to the next.
        case forward(UInt64, from: NodeID, to: NodeID)
        /// Tell the upstream neighbour that the tail has every update up to `through`.
        case acknowledge(through: UInt64, from: NodeID, to: NodeID)
        /// Every replica has every update up to `through`: the head acknowledges the pushes behind
        /// them to their workers (again, after a head change: workers ignore a second reply).
        case complete(through: UInt64)
        /// The head failed: `node` now receives the range's requests. Pushes the old head had not
        /// forwarded are lost and were never acknowledged: their workers resend them.
        case headChanged(NodeID)
        /// The tail changed (it failed, or a new server joined after it).
        case tailChanged(NodeID)
        /// Every replica failed, or every one that had all acknowledged updates: the range is lost.
        case lost
    }

    /// The replicas, head first, tail last.
    public internal(set) var replicas: [Replica]
    /// The messages on their way, per link, oldest first.
    public internal(set) var inFlight: [Link: [Message]] = [:]
    /// The highest update the chain has acknowledged to workers.
    public internal(set) var completedThrough: UInt64 = 0

    /// A chain over `nodes` (head first) with no update applied; every node starts from the same state.
    public init(nodes: [NodeID]) {
        precondition(!nodes.isEmpty && Set(nodes).count == nodes.count, "a chain needs distinct nodes")
        replicas = nodes.map { Replica(state: ChainReplica(node: $0), history: []) }
    }

    /// The chain's servers, head first.
    public var nodes: [NodeID] { replicas.map(\.node) }
    /// Whether every replica failed.
    public var isLost: Bool { replicas.isEmpty }
    /// Whether no message is on its way.
    public var isQuiescent: Bool { inFlight.values.allSatisfy(\.isEmpty) }
    /// The links with a message on its way, in a stable order.
    public var busyLinks: [Link] {
        inFlight.filter { !$0.value.isEmpty }.keys.sorted { ($0.from, $0.to) < ($1.from, $1.to) }
    }

    /// The replica of `node`.
    public func replica(_ node: NodeID) -> Replica? { replicas.first { $0.node == node } }

    // MARK: Events

    /// The head applied an aggregated update: it gets the next sequence number and goes downstream.
    public mutating func applyAtHead() -> (sequence: UInt64, directives: [Directive]) {
        precondition(!replicas.isEmpty, "a lost chain applies nothing")
        let sequence = replicas[0].state.applyAsHead(forwards: replicas.count > 1)
        replicas[0].history.append(sequence)
        guard replicas.count > 1 else {
            completedThrough = max(completedThrough, sequence)
            return (sequence, [.complete(through: sequence)])
        }
        return (sequence, [send(.forward(sequence), from: 0)])
    }

    /// The oldest message on the link `from → to` arrived. A link that no longer joins neighbours
    /// carries nothing (its messages were dropped when the chain changed).
    public mutating func deliver(from: NodeID, to: NodeID) -> [Directive] {
        let link = Link(from: from, to: to)
        guard var queue = inFlight[link], !queue.isEmpty, let index = replicas.firstIndex(where: { $0.node == to }) else {
            return []
        }
        let message = queue.removeFirst()
        inFlight[link] = queue
        let isTail = index == replicas.count - 1
        switch message {
        case .forward(let sequence):
            // A duplicate is a resend it already has; a gap cannot happen on a FIFO link (the
            // invariants catch a chain that loses a message).
            guard replicas[index].state.receiveForward(sequence, forwards: !isTail) == .applied else { return [] }
            replicas[index].history.append(sequence)
            return [isTail ? send(.acknowledge(through: sequence), from: index, upstream: true) : send(.forward(sequence), from: index)]
        case .acknowledge(let through):
            replicas[index].state.receiveAcknowledgement(through: through)
            if index == 0 {
                completedThrough = max(completedThrough, through)
                return [.complete(through: through)]
            }
            return [send(.acknowledge(through: through), from: index, upstream: true)]
        }
    }

    /// `node` failed (crash-stop): the chain closes over it, and the messages to and from it are lost.
    public mutating func fail(_ node: NodeID) -> [Directive] {
        guard let index = replicas.firstIndex(where: { $0.node == node }) else { return [] }
        replicas.remove(at: index)
        for link in inFlight.keys where link.from == node || link.to == node { inFlight[link] = nil }
        // The head has the most updates; when it lacks one that was acknowledged, every full copy
        // died (the survivors joined and were still catching up): beyond the fault model.
        guard let head = replicas.first, UInt64(head.history.count) >= completedThrough else {
            replicas = []
            inFlight = [:]
            return [.lost]
        }
        if replicas.count == 1 {
            // The only replica left is head and tail: everything it has is on every replica.
            let through = replicas[0].state.becomeTail()
            completedThrough = max(completedThrough, through)
            return [index == 0 ? .headChanged(replicas[0].node) : .tailChanged(replicas[0].node), .complete(through: through)]
        }
        if index == 0 {
            // The new head acknowledges what it knows the tail has; the rest completes as acks arrive.
            let through = replicas[0].acknowledgedThrough
            completedThrough = max(completedThrough, through)
            return [.headChanged(replicas[0].node), .complete(through: through)]
        }
        if index == replicas.count {
            // The predecessor becomes the tail: it has every update it forwarded.
            let tail = index - 1
            let through = replicas[tail].state.becomeTail()
            return [.tailChanged(replicas[tail].node), send(.acknowledge(through: through), from: tail, upstream: true)]
        }
        // A middle server: the predecessor resends what the successor lacks, and the successor
        // repeats its last acknowledgement, which may have died with the failed server.
        let successor = replicas[index].state
        var directives: [Directive] = []
        for sequence in replicas[index - 1].state.updatesToResend(successorLastApplied: successor.lastApplied) {
            directives.append(send(.forward(sequence), from: index - 1))
        }
        if let through = successor.acknowledgementToRepeat(isTail: index == replicas.count - 1) {
            directives.append(send(.acknowledge(through: through), from: index, upstream: true))
        }
        return directives
    }

    /// `node` joins as the new tail after copying the current tail's state through update
    /// `copiedThrough` (the copy runs while the chain goes on; the old tail then forwards what it
    /// applied since). Updates after the copy count as unacknowledged again until the new tail has
    /// them (they may already have been acknowledged to workers: every replica of the old chain has them).
    public mutating func joinTail(_ node: NodeID, copiedThrough: UInt64) -> [Directive] {
        precondition(!replicas.isEmpty, "a lost chain takes no new tail")
        precondition(!replicas.contains { $0.node == node }, "\(node) is already in the chain")
        let old = replicas.count - 1
        precondition(copiedThrough <= replicas[old].lastApplied, "the tail never applied update \(copiedThrough)")
        replicas.append(
            Replica(
                state: ChainReplica(node: node, lastApplied: copiedThrough),
                history: Array(replicas[old].history.prefix(Int(copiedThrough))), catchUpTarget: completedThrough))
        // Updates after the copy are not on the new tail: every replica upstream keeps them in its
        // Sent list again, so that whichever of them fails, its predecessor can resend them; and the
        // old tail's acknowledgements still on their way now vouch only for the copied updates.
        var handedOver: [UInt64] = []
        for index in 0...old { handedOver = replicas[index].state.handOver(copiedThrough: copiedThrough) }
        for (link, queue) in inFlight where queue.contains(where: { if case .acknowledge = $0 { true } else { false } }) {
            inFlight[link] = queue.map { message in
                if case .acknowledge(let through) = message { .acknowledge(through: min(through, copiedThrough)) } else { message }
            }
        }
        var directives: [Directive] = [.tailChanged(node)]
        for sequence in handedOver { directives.append(send(.forward(sequence), from: old)) }
        return directives
    }

    /// Queues `message` from replica `index` to its downstream (or upstream) neighbour and returns
    /// the directive to send it.
    private mutating func send(_ message: Message, from index: Int, upstream: Bool = false) -> Directive {
        let from = replicas[index].node
        let to = replicas[upstream ? index - 1 : index + 1].node
        inFlight[Link(from: from, to: to), default: []].append(message)
        switch message {
        case .forward(let sequence): return .forward(sequence, from: from, to: to)
        case .acknowledge(let through): return .acknowledge(through: through, from: from, to: to)
        }
    }
}
