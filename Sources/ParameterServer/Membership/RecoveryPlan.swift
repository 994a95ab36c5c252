/// What the manager does when servers die: for each range a dead server was primary of, promote
/// the next replica of its chain (it has the data: nothing is copied before requests flow again);
/// for each chain that lost a member, pick the next server on the ring as a new tail and list the
/// copy that gives it the range, so that `k + 1` copies exist again.
///
/// Pure: ``make(dead:in:)`` takes the membership and the dead servers and returns the plan with the
/// membership after it, whose table the manager broadcasts. When every copy of some range died the
/// plan cannot exist and a ``RecoveryError`` names the lost ranges: the job must fail with it. A
/// server still catching up on a range (``Membership/catchingUp``) does not count as a copy of it.
public struct RecoveryPlan: Hashable, Sendable {
    /// A range whose primary died: the first surviving replica becomes its primary.
    public struct Promotion: Hashable, Sendable, CustomStringConvertible {
        /// The keys.
        public var range: KeyRange
        /// The dead primary.
        public var from: NodeID
        /// The replica that becomes primary.
        public var to: NodeID
        /// `[0, 100): node 3 → node 4`.
        public var description: String { "\(range): \(from) → \(to)" }
    }

    /// A copy to make: `target` receives `range` (values, updater state, vector clocks and
    /// deduplication state) from `source`, then joins the range's chain as its tail.
    public struct Copy: Hashable, Sendable, CustomStringConvertible {
        /// The keys.
        public var range: KeyRange
        /// A surviving holder of the range: the chain's surviving tail, as chain replication copies
        /// from the tail.
        public var source: NodeID
        /// The server that receives the range.
        public var target: NodeID
        /// `[0, 100): node 4 ⇒ node 5`.
        public var description: String { "\(range): \(source) ⇒ \(target)" }
    }

    /// The dead servers, by id.
    public var dead: [NodeID]
    /// The ranges whose primary changes, in key order.
    public var promotions: [Promotion]
    /// The copies that restore `k + 1` copies, in key order.
    public var copies: [Copy]
    /// The ranges whose chain changes, in key order (old chain ⇒ new chain).
    public var moves: [ChainMove]
    /// The membership once the dead servers are removed: its ``Membership/table`` is the one to broadcast.
    public var membership: Membership

    /// Plans the recovery from the deaths of `dead` (servers of `membership`).
    ///
    /// - Throws: ``RecoveryError`` with ``RecoveryError/Code/rangesLost`` when every server of some
    ///   range's chain is dead, naming those ranges; ``RecoveryError/Code/unknownServer`` when a dead
    ///   node is not a server of the membership.
    public static func make(dead: some Sequence<NodeID>, in membership: Membership) throws(RecoveryError) -> RecoveryPlan {
        let deadServers = Set(dead).sorted()
        for node in deadServers where membership.member(node)?.role != .server {
            throw RecoveryError(.unknownServer, dead: deadServers, lostRanges: [], "\(node) is not a server of the cluster")
        }
        let before = membership.chains
        var lost: [KeyRange] = []
        // A server still catching up holds no full copy.
        for chain in before
        where chain.nodes.allSatisfy({ deadServers.contains($0) || membership.isCatchingUp($0, in: chain.range) }) {
            if let last = lost.last, last.upperBound == chain.range.lowerBound {
                lost[lost.count - 1].upperBound = chain.range.upperBound
            } else {
                lost.append(chain.range)
            }
        }
        if !lost.isEmpty {
            throw RecoveryError(
                .rangesLost, dead: deadServers, lostRanges: lost,
                "every copy of \(lost.count == 1 ? "key range" : "key ranges") \(lost.map(\.description).joined(separator: ", ")) "
                    + "was on the dead \(deadServers.count == 1 ? "server" : "servers") "
                    + deadServers.map(\.description).joined(separator: ", "))
        }

        var after = membership
        for node in deadServers {
            do {
                _ = try after.remove(node)
            } catch {
                preconditionFailure("a server of the membership could not be removed: \(error)")
            }
        }
        // Removals reassign tokens and add none, so old and new chains line up one to one.
        var promotions: [Promotion] = []
        var copies: [Copy] = []
        var moves: [ChainMove] = []
        for (old, new) in zip(before, after.chains) {
            if old.nodes != new.nodes { append(ChainMove(range: old.range, from: old.nodes, to: new.nodes), to: &moves) }
            if deadServers.contains(old.primary) {
                append(Promotion(range: old.range, from: old.primary, to: new.primary), to: &promotions)
            }
            let source = old.nodes.last { !deadServers.contains($0) }!
            for target in new.nodes where !old.nodes.contains(target) {
                append(Copy(range: old.range, source: source, target: target), to: &copies)
            }
        }
        return RecoveryPlan(dead: deadServers, promotions: promotions, copies: copies, moves: moves, membership: after)
    }

    private static func append(_ promotion: Promotion, to list: inout [Promotion]) {
        if let last = list.last, last.range.upperBound == promotion.range.lowerBound, last.from == promotion.from,
            last.to == promotion.to
        {
            list[list.count - 1].range.upperBound = promotion.range.upperBound
        } else {
            list.append(promotion)
        }
    }

    private static func append(_ copy: Copy, to list: inout [Copy]) {
        // Copies of adjacent ranges between the same servers are one copy.
        if let index = list.lastIndex(where: { $0.source == copy.source && $0.target == copy.target }),
            list[index].range.upperBound == copy.range.lowerBound
        {
            list[index].range.upperBound = copy.range.upperBound
        } else {
            list.append(copy)
        }
    }

    private static func append(_ move: ChainMove, to list: inout [ChainMove]) {
        if let last = list.last, last.range.upperBound == move.range.lowerBound, last.from == move.from, last.to == move.to {
            list[list.count - 1].range.upperBound = move.range.upperBound
        } else {
            list.append(move)
        }
    }
}

/// A recovery that cannot happen: beyond the fault model, or about a node that is not a server.
public struct RecoveryError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Why. A struct so that new codes do not break callers.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The numeric code.
        public var rawValue: UInt16
        /// Wraps a numeric code.
        public init(rawValue: UInt16) { self.rawValue = rawValue }

        /// Every copy of some ranges died (more than `k` servers of one chain): the job must fail.
        public static let rangesLost = Code(rawValue: 1)
        /// A dead node is not a server of the membership.
        public static let unknownServer = Code(rawValue: 2)

        public var description: String {
            switch self {
            case .rangesLost: return "rangesLost"
            case .unknownServer: return "unknownServer"
            default: return "recoveryError\(rawValue)"
            }
        }
    }

    /// What went wrong.
    public var code: Code
    /// The dead servers the recovery was for.
    public var dead: [NodeID]
    /// The key ranges with no copy left, sorted and merged.
    public var lostRanges: [KeyRange]
    /// A human-readable explanation naming the ranges and the servers.
    public var detail: String

    /// Creates a recovery error.
    public init(_ code: Code, dead: [NodeID], lostRanges: [KeyRange], _ detail: String) {
        self.code = code
        self.dead = dead
        self.lostRanges = lostRanges
        self.detail = detail
    }

    public var description: String { "\(code): \(detail)" }
}
