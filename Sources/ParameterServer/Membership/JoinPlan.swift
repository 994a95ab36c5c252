/// How a server joins a running job: copy-then-switch, as chain replication adds servers (van
/// Renesse and Schneider, OSDI 2004: a new server joins a chain at its tail after copying the state)
/// and as the paper's server management moves a range (Li et al., OSDI 2014, section 4.5).
///
/// Three steps, each a node table (docs/FAULT-TOLERANCE.md, "Joins"):
/// 1. **Catch up.** The joiner takes its share of the ring (``HashRing/add(_:)``: only from the old
///    servers, exactly `⌊N/(S+1)⌋` keys). Every new segment keeps the chain of the old segment it
///    lies in (its *holders*: nothing changes for the requests), and each server of the segment's
///    final chain that is not a holder — the joiner, and with `k ≥ 1` sometimes an old server that
///    becomes a replica of it — joins that chain at the tail, where the holder before it copies the
///    segment to it while results keep flowing (re-protection's range copy). With `replication: 0`
///    the same holds: the joiner is a temporary tail of the segments it will own.
/// 2. **Drain.** Once every copy is reported, each segment whose chain is to change is drained at
///    its primary: pushes on it are refused (`staleTable`, to be sent again by the next table) until
///    every result already applied is acknowledged by the whole chain. Then every server of the
///    catch-up chain holds the same values, updater state and applied-push record.
/// 3. **Switch.** The final chains (the ring's: the joiner heads the segments it owns) take effect.
///    Every final chain is a subset of its catch-up chain, so every member already holds a full,
///    equal copy: nothing is copied at the switch, the old servers that left a chain free the
///    segment, and workers send the refused pushes again to the new primaries.
///
/// Pure: ``make(joiner:endpoint:id:in:)`` takes the membership of the running job and returns the
/// chains of each step and the copies, drains and hand-overs between them.
public struct JoinPlan: Hashable, Sendable {
    /// A segment whose primary changes at the switch, from an old server to the joiner.
    public struct Handoff: Hashable, Sendable, CustomStringConvertible {
        /// The keys.
        public var range: KeyRange
        /// The primary until the switch.
        public var from: NodeID
        /// The primary from the switch on.
        public var to: NodeID
        /// `[0, 100): node 2 → node 5`.
        public var description: String { "\(range): \(from) → \(to)" }
    }

    /// The id the joiner was given.
    public var joiner: NodeID
    /// The chains of the catch-up table, one per segment of the new ring, in key order: the
    /// holders first, then the servers still to receive the segment.
    public var catchUp: [RangeChain]
    /// The chains after the switch, one per segment, in key order: the ring's.
    public var final: [RangeChain]
    /// The copies of step 1: `source` is the tail of the segment's holders, as chain replication
    /// copies from the tail; a target that joins several segments' chains gets each of them.
    public var copies: [RecoveryPlan.Copy]
    /// The segments whose chain changes at the switch, to drain at their catch-up primary first.
    public var drains: [RangeChain]
    /// The segments whose primary changes at the switch.
    public var handoffs: [Handoff]
    /// The membership after the switch: its ``Membership/table`` lists the final chains.
    public var membership: Membership

    /// Plans how a server at `endpoint` with `rank` joins `membership`, whose ranges hold data: under
    /// the next id, or under `id` when it joins again after an abandoned join
    /// (``Membership/rejoin(server:rank:endpoint:)``).
    ///
    /// - Throws: ``MembershipError`` when the membership has no server yet (the first servers form
    ///   the ring with nothing to copy, through ``Membership/join(role:rank:endpoint:)``), or `id`
    ///   is not that server's to take back.
    public static func make(
        joiner rank: UInt32, endpoint: String, id: NodeID? = nil, in membership: Membership
    ) throws(MembershipError) -> JoinPlan {
        guard !membership.chains.isEmpty else {
            throw MembershipError(.unknownNode, node: .manager, "a server joins a running job only: the ring has no server yet")
        }
        let before = membership.chains
        var after = membership
        after.holdsData = false  // the plan, not the membership, says who copies what
        let joiner: NodeID
        if let id {
            joiner = try after.rejoin(server: id, rank: rank, endpoint: endpoint).node
        } else {
            joiner = try after.join(role: .server, rank: rank, endpoint: endpoint).node
        }
        after.holdsData = membership.holdsData
        var catchUp: [RangeChain] = []
        var copies: [RecoveryPlan.Copy] = []
        var drains: [RangeChain] = []
        var handoffs: [Handoff] = []
        var oldIndex = 0
        for chain in after.chains {
            // Tokens are only ever inserted, so each new segment lies inside one old segment.
            while before[oldIndex].range.upperBound <= chain.range.lowerBound { oldIndex += 1 }
            let holders = before[oldIndex].nodes
            let newcomers = chain.nodes.filter { !holders.contains($0) }
            let interim = RangeChain(range: chain.range, nodes: holders + newcomers)
            catchUp.append(interim)
            for target in newcomers {
                append(RecoveryPlan.Copy(range: chain.range, source: holders[holders.count - 1], target: target), to: &copies)
            }
            if interim.nodes != chain.nodes { drains.append(interim) }
            if interim.primary != chain.primary {
                let handoff = Handoff(range: chain.range, from: interim.primary, to: chain.primary)
                if let last = handoffs.last, last.range.upperBound == handoff.range.lowerBound, last.from == handoff.from,
                    last.to == handoff.to
                {
                    handoffs[handoffs.count - 1].range.upperBound = handoff.range.upperBound
                } else {
                    handoffs.append(handoff)
                }
            }
        }
        return JoinPlan(
            joiner: joiner, catchUp: catchUp, final: after.chains, copies: copies, drains: drains, handoffs: handoffs,
            membership: after)
    }

    private static func append(_ copy: RecoveryPlan.Copy, to list: inout [RecoveryPlan.Copy]) {
        // Copies of adjacent segments between the same servers are one copy.
        if let index = list.lastIndex(where: { $0.source == copy.source && $0.target == copy.target }),
            list[index].range.upperBound == copy.range.lowerBound
        {
            list[index].range.upperBound = copy.range.upperBound
        } else {
            list.append(copy)
        }
    }
}
