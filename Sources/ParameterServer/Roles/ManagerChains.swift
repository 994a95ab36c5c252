/// The manager's record of the replica chains (docs/FAULT-TOLERANCE.md): which servers hold each
/// key range, primary first, and which of them are still receiving their copy. Pure: the manager
/// feeds it deaths and copy reports, and publishes the chains it returns.
///
/// A server added to a chain to replace a lost copy joins at the tail and is *catching up* until
/// its predecessor reports that it holds the whole range (``MessageKind/replicaReady``); servers
/// catching up always form a suffix of the chain, are never promoted, and do not count as copies.
struct ManagerChains {
    /// What a server's death did.
    struct Loss {
        /// Ranges whose primary died, with the server that took over.
        var promoted: [(range: KeyRange, to: NodeID)] = []
        /// Ranges left without a full copy.
        var lost: [KeyRange] = []
        /// Ranges given a new server to copy them, with that server.
        var copying: [(range: KeyRange, to: NodeID)] = []
    }

    /// Copies of every range: the primary and `replication` replicas.
    let copies: Int
    private(set) var chains: [ReplicaChain] = []
    /// Per range, the servers still receiving their copy.
    private(set) var catchingUp: [KeyRange: Set<NodeID>] = [:]
    /// Per range, the node table version that last gave it a server to copy to: a copy report made
    /// under an older version is out of date.
    private var copyRequestedAt: [KeyRange: UInt64] = [:]

    init(replication: Int) {
        copies = replication + 1
    }

    /// The first assignment: range `i` on servers `i, i+1, …` of `servers` (wrapping around).
    mutating func assign(_ ranges: [KeyRange], servers: [NodeID]) {
        let count = min(copies, servers.count)
        chains = ranges.indices.map { index in
            ReplicaChain(range: ranges[index], nodes: (0..<count).map { servers[(index + $0) % servers.count] })
        }
    }

    /// The ranges `server` heads, in key order.
    func primaryRanges(of server: NodeID) -> [KeyRange] {
        chains.filter { $0.nodes.first == server }.map(\.range).sorted { $0.lowerBound < $1.lowerBound }
    }

    /// Takes `dead` out of every chain; the next full copy of each of its ranges takes its place,
    /// and each chain short of copies gets a new server from `live` (the one in fewest chains,
    /// then the lowest id) to copy it. `version` is the node table version these chains will be
    /// published under.
    mutating func remove(_ dead: NodeID, live: [NodeID], version: UInt64) -> Loss {
        var loss = Loss()
        for index in chains.indices where chains[index].nodes.contains(dead) {
            let range = chains[index].range
            let wasPrimary = chains[index].nodes.first == dead
            chains[index].nodes.removeAll { $0 == dead }
            catchingUp[range]?.remove(dead)
            let full = chains[index].nodes.filter { !(catchingUp[range]?.contains($0) ?? false) }
            guard let head = full.first else {
                loss.lost.append(range)
                continue
            }
            if wasPrimary { loss.promoted.append((range, head)) }
        }
        guard loss.lost.isEmpty else { return loss }
        for index in chains.indices where chains[index].nodes.count < copies {
            let range = chains[index].range
            let load = Dictionary(grouping: chains.flatMap(\.nodes), by: { $0 }).mapValues(\.count)
            let candidates = live.filter { !chains[index].nodes.contains($0) }
                .sorted { (load[$0] ?? 0, $0) < (load[$1] ?? 0, $1) }
            guard let added = candidates.first else { continue }
            chains[index].nodes.append(added)
            catchingUp[range, default: []].insert(added)
            copyRequestedAt[range] = version
            loss.copying.append((range, added))
        }
        return loss
    }

    /// `reporter` says every server after it in the chain of `range` holds a full copy made under
    /// node table `version`; returns the servers that became full copies.
    mutating func copied(_ range: KeyRange, by reporter: NodeID, version: UInt64) -> [NodeID] {
        guard version >= copyRequestedAt[range] ?? 0,
            let chain = chains.first(where: { $0.range == range }),
            let position = chain.nodes.firstIndex(of: reporter)
        else { return [] }
        let done = chain.nodes[(position + 1)...].filter { catchingUp[range]?.contains($0) ?? false }
        for node in done { catchingUp[range]?.remove(node) }
        if catchingUp[range]?.isEmpty ?? false { catchingUp[range] = nil }
        return Array(done)
    }
}
