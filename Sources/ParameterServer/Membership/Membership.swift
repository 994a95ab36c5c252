/// The manager's versioned view of the cluster: who is a member, what each server owns on the
/// ``HashRing``, and per range its ``RangeChain`` (the primary and `k` replicas).
///
/// Node ids come from a counter and are never reused for another node, so a server that dies and
/// comes back is a new member; ranks are only names from the topology. The one node that gets an id
/// back is a joiner whose join was abandoned (``remove(_:mayRejoin:)``): the same server, at the same
/// rank and endpoint, joins again under the id it had. Every change bumps ``version``, and every data
/// request carries the version it was made under (see ``validate(requestVersion:)``).
///
/// A value type: events in (``join(role:rank:endpoint:)``, ``remove(_:)``), the new table and the
/// ranges whose chains changed out (``Membership/Change``). The manager's shell broadcasts the table
/// and has the data moved.
public struct Membership: Hashable, Sendable {
    /// One member as the manager knows it.
    public struct Member: Hashable, Sendable {
        /// The id the manager gave it.
        public var id: NodeID
        /// What it does.
        public var role: NodeRole
        /// Its rank in its role, as named in the topology (a joiner beyond the count has a rank beyond it).
        public var rank: UInt32
        /// Where its ROUTER socket is reached.
        public var endpoint: String
    }

    /// What one change did.
    public struct Change: Hashable, Sendable {
        /// The member the change was about (for a join, the id it was given; the manager for a rebalance).
        public var node: NodeID
        /// The table to broadcast.
        public var table: NodeTable
        /// The ranges whose chain changed, in key order.
        public var moves: [ChainMove]
    }

    /// How many replicas each range has beyond its primary (topology `replication`), when there are
    /// enough servers.
    public let replication: Int
    /// Increases by one with every change; 0 before the first.
    public private(set) var version: UInt64 = 0
    /// The members, ordered by id.
    public private(set) var members: [Member] = []
    /// The servers' tokens and ranges.
    public private(set) var ring: HashRing
    /// One chain per segment of the ring, in key order.
    public private(set) var chains: [RangeChain] = []
    /// Whether the ranges hold data (the job is running): a server that then joins a chain is
    /// *catching up*, receiving its copy, until its predecessor reports that it holds the whole range
    /// (``copied(_:by:version:)``). Before, chains are formed with nothing to copy.
    public var holdsData = false
    /// Per segment, the servers of its chain still catching up. They always form a suffix of the
    /// chain, are never promoted and do not count as copies.
    public private(set) var catchingUp: [KeyRange: Set<NodeID>] = [:]
    /// Per segment, the version that last gave its chain a server to copy to: a copy report made
    /// under an older version is out of date.
    private var copyRequestedAt: [KeyRange: UInt64] = [:]
    private var nextID: UInt32 = 1
    /// Servers taken out that may join again under their id (``remove(_:mayRejoin:)``), and no
    /// other node may.
    private var rejoining: [NodeID: Member] = [:]
    /// The id the next node to join gets.
    public var nextNodeID: NodeID { NodeID(nextID) }

    /// An empty membership over `keySpace`.
    public init(keySpace: KeyRange, virtualNodes: Int = HashRing.defaultVirtualNodes, replication: Int = 0) {
        precondition(replication >= 0, "replication must not be negative")
        self.replication = replication
        ring = HashRing(keySpace: keySpace, virtualNodes: virtualNodes)
    }

    /// An empty membership for `topology`: its key space and `replication`, with `virtualNodes`
    /// tokens per server (by default the topology's `servers.virtual_nodes`).
    public init(topology: Topology, virtualNodes: Int? = nil) {
        self.init(
            keySpace: topology.keySpaceRange, virtualNodes: virtualNodes ?? topology.servers.virtualNodes,
            replication: topology.replication)
    }

    /// The member with id `id`.
    public func member(_ id: NodeID) -> Member? { members.first { $0.id == id } }

    /// The table to broadcast: every member, a server with the ranges it is primary for.
    public var table: NodeTable {
        NodeTable(
            version: version,
            nodes: members.map { member in
                NodeInfo(
                    id: member.id, role: member.role, rank: member.rank, endpoint: member.endpoint,
                    ranges: member.role == .server ? ring.ranges(of: member.id) : [])
            })
    }

    /// The chain of the range that holds `key`, in O(log n).
    public func chain(containing key: UInt64) -> RangeChain? {
        ring.tokenIndex(containing: key).map { chains[$0] }
    }

    /// The chains `server` belongs to, as primary or replica.
    public func chains(of server: NodeID) -> [RangeChain] { chains.filter { $0.nodes.contains(server) } }

    /// Whether a request made under table `requestVersion` may be served; throws a
    /// ``StaleTableError`` carrying the current version when the request's table is older.
    public func validate(requestVersion: UInt64) throws(StaleTableError) -> TableVersionVerdict {
        try TableVersionVerdict.check(requestVersion: requestVersion, currentVersion: version)
    }

    // MARK: Events

    /// Admits a client under the next id: one more member, no change to the ring or the chains,
    /// and no table built (clients may come by the thousand, ``join(role:rank:endpoint:)`` builds one).
    public mutating func admitClient(rank: UInt32, endpoint: String) -> NodeID {
        let id = NodeID(nextID)
        nextID += 1
        members.append(Member(id: id, role: .client, rank: rank, endpoint: endpoint))
        version += 1
        return id
    }

    /// Admits a node under the next id. A server takes its share of the ring (see ``HashRing/add(_:)``).
    public mutating func join(role: NodeRole, rank: UInt32, endpoint: String) throws(MembershipError) -> Change {
        guard role != .manager else { throw MembershipError(.managerChange, node: .manager, "the manager is not a member") }
        let id = NodeID(nextID)
        nextID += 1
        members.append(Member(id: id, role: role, rank: rank, endpoint: endpoint))
        var moves: [ChainMove] = []
        if role == .server {
            let before = chains
            ring.add(id)
            moves = rebuildChains(after: before)
        }
        version += 1
        return Change(node: id, table: table, moves: moves)
    }

    /// Admits again, under its old id, a server taken out with ``remove(_:mayRejoin:)``: the same rank
    /// and endpoint, not a member since. It takes its share of the ring as a new server does.
    ///
    /// - Throws: ``MembershipError`` when `id` was not taken out to join again, or by another node.
    public mutating func rejoin(server id: NodeID, rank: UInt32, endpoint: String) throws(MembershipError) -> Change {
        guard let former = rejoining[id], former.rank == rank, former.endpoint == endpoint else {
            throw MembershipError(.unknownNode, node: id, "\(id) was not taken out to join again as server-\(rank) at \(endpoint)")
        }
        rejoining[id] = nil
        members.insert(former, at: members.firstIndex { $0.id > id } ?? members.count)
        let before = chains
        ring.add(id)
        let moves = rebuildChains(after: before)
        version += 1
        return Change(node: id, table: table, moves: moves)
    }

    /// Whether `server` is still receiving its copy of segment `range`.
    public func isCatchingUp(_ server: NodeID, in range: KeyRange) -> Bool {
        catchingUp[range]?.contains(server) ?? false
    }

    /// `reporter` says the servers after it in the chain of segment `range` that were catching up
    /// right behind it hold a full copy made under `version` (the copy it sent passed through each
    /// of them to the next); returns the servers that thereby became full copies. A server that
    /// held the segment already and stands between makes its own copy for the servers after it and
    /// reports it: the reporter's copy says nothing of those.
    public mutating func copied(_ range: KeyRange, by reporter: NodeID, version: UInt64) -> [NodeID] {
        guard version >= copyRequestedAt[range] ?? 0,
            let index = ring.tokenIndex(containing: range.lowerBound), chains[index].range == range,
            let position = chains[index].nodes.firstIndex(of: reporter)
        else { return [] }
        let done = chains[index].nodes[(position + 1)...].prefix { isCatchingUp($0, in: range) }
        for node in done { catchingUp[range]?.remove(node) }
        if catchingUp[range]?.isEmpty ?? false {
            catchingUp[range] = nil
            copyRequestedAt[range] = nil
        }
        return Array(done)
    }

    /// Removes a member that left or died. A server's ranges pass to the first replica of their
    /// chain that holds a full copy, which becomes primary; the chains it was in take the next
    /// server on the ring as a new tail. A server removed with `mayRejoin` (a joiner whose join
    /// was abandoned, alive) keeps its id for ``rejoin(server:rank:endpoint:)``.
    public mutating func remove(_ id: NodeID, mayRejoin: Bool = false) throws(MembershipError) -> Change {
        guard let index = members.firstIndex(where: { $0.id == id }) else {
            throw MembershipError(.unknownNode, node: id, "\(id) is not a member")
        }
        let member = members.remove(at: index)
        if mayRejoin, member.role == .server { rejoining[id] = member }
        var moves: [ChainMove] = []
        if member.role == .server {
            let before = chains
            // Each segment passes to the first surviving replica of its chain, which holds its data.
            let copying = catchingUp
            ring.remove(id) { index in
                before[index].nodes.first { $0 != id && !(copying[before[index].range]?.contains($0) ?? false) }
            }
            moves = rebuildChains(after: before)
        }
        version += 1
        return Change(node: id, table: table, moves: moves)
    }

    /// Join, step 1 (``JoinPlan``): takes the ring of `plan` (the joiner's tokens placed) with its
    /// catch-up chains, under the next version. Every server of a chain that the chain of the old
    /// segment around it did not hold is catching up, as a new replica is. Primaries do not change:
    /// should a server die now, ``remove(_:)`` gives each segment to the first of its chain that holds
    /// a full copy, and the joiner's segments return to their old primaries.
    public mutating func beginJoin(_ plan: JoinPlan) {
        let before = chains
        self = plan.membership
        chains = plan.catchUp
        catchingUp = [:]
        copyRequestedAt = [:]
        var oldIndex = 0
        for chain in chains {
            while before[oldIndex].range.upperBound <= chain.range.lowerBound { oldIndex += 1 }
            let newcomers = chain.nodes.filter { !before[oldIndex].nodes.contains($0) }
            guard !newcomers.isEmpty else { continue }
            catchingUp[chain.range] = Set(newcomers)
            copyRequestedAt[chain.range] = version
        }
    }

    /// Join, step 2: the same ring and chains under the next version, the table that drains the
    /// segments whose chains are to change.
    public mutating func beginDrain() {
        version += 1
    }

    /// Join, step 3: the final chains of the join (each a subset of its catch-up chain, so every
    /// member holds a full copy) take effect under the next version.
    public mutating func switchChains(to final: [RangeChain]) {
        precondition(final.map(\.range) == chains.map(\.range), "a join's final chains cover its catch-up segments")
        chains = final
        catchingUp = [:]
        copyRequestedAt = [:]
        version += 1
    }

    /// Evens out the servers' shares after deaths (see ``HashRing/rebalance(tolerance:)``): the
    /// moved ranges get new primaries that copy them first (copy-then-switch, as for a join). Bumps
    /// the version only when something moved; `nil` when nothing did.
    public mutating func rebalance(tolerance: Double = 0.05) -> Change? {
        let before = chains
        guard ring.rebalance(tolerance: tolerance) else { return nil }
        let moves = rebuildChains(after: before)
        version += 1
        return Change(node: .manager, table: table, moves: moves)
    }

    /// Recomputes every segment's chain and returns the ranges whose chain changed.
    ///
    /// A segment's chain is its ring owner, then its ``HashRing/successors(of:count:)`` as a set,
    /// ordered so that servers already in the old chain keep their order and newcomers join at the
    /// tail, as chain replication adds servers (a new server copies from the tail, then becomes it).
    private mutating func rebuildChains(after old: [RangeChain]) -> [ChainMove] {
        var result: [RangeChain] = []
        result.reserveCapacity(ring.tokens.count)
        var moves: [ChainMove] = []
        var newCatchingUp: [KeyRange: Set<NodeID>] = [:]
        var newCopyRequestedAt: [KeyRange: UInt64] = [:]
        var oldIndex = 0
        for index in ring.tokens.indices {
            let range = ring.segmentRange(at: index)
            let owner = ring.tokens[index].owner
            let successors = ring.successors(ofTokenAt: index, count: replication)
            // Tokens are only ever inserted, so each new segment lies inside one old segment.
            while oldIndex < old.count, old[oldIndex].range.upperBound <= range.lowerBound { oldIndex += 1 }
            let previous = oldIndex < old.count ? old[oldIndex].nodes : []
            let kept = previous.filter { $0 != owner && successors.contains($0) }
            let chain = RangeChain(range: range, nodes: [owner] + kept + successors.filter { !kept.contains($0) })
            result.append(chain)
            // A segment inherits the copies in progress of the segment it was part of, and a server
            // new to a chain that holds data catches up.
            if oldIndex < old.count {
                let oldRange = old[oldIndex].range
                var copying = (catchingUp[oldRange] ?? []).intersection(chain.nodes)
                var requestedAt = copyRequestedAt[oldRange]
                if holdsData, !previous.isEmpty {
                    let newcomers = chain.nodes.filter { !previous.contains($0) }
                    if !newcomers.isEmpty {
                        copying.formUnion(newcomers)
                        requestedAt = version + 1
                    }
                }
                if !copying.isEmpty {
                    newCatchingUp[range] = copying
                    newCopyRequestedAt[range] = requestedAt
                }
            }
            if chain.nodes != previous {
                if let last = moves.last, last.range.upperBound == range.lowerBound, last.from == previous,
                    last.to == chain.nodes
                {
                    moves[moves.count - 1].range.upperBound = range.upperBound
                } else {
                    moves.append(ChainMove(range: range, from: previous, to: chain.nodes))
                }
            }
        }
        if result.isEmpty {
            // The last server left: every range it held is gone.
            moves = old.map { ChainMove(range: $0.range, from: $0.nodes, to: []) }
        }
        chains = result
        catchingUp = newCatchingUp
        copyRequestedAt = newCopyRequestedAt
        return moves
    }
}
