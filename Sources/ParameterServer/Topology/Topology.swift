/// Everything a job needs to know about its cluster: where the manager, servers and workers run,
/// the key space and tables, the deadlines, and what the workers compute.
///
/// `zps run FILE` starts the whole topology as local processes; `zps manager|server|worker
/// --topology FILE` runs one role of it on one host. Load one with ``Topology/load(path:updaters:)``
/// or ``Topology/parse(yaml:file:updaters:)``; Topologies/README.md documents the file format.
public struct Topology: Hashable, Sendable {
    /// Free text naming the job in logs and summaries.
    public var name: String
    /// Where the manager runs (its ``RoleSpec/count`` is always 1).
    public var manager: RoleSpec
    /// Where the servers run and how many there are.
    public var servers: RoleSpec
    /// Where the workers run and how many there are.
    public var workers: RoleSpec
    /// Keys live in `[0, keySpace)`; the manager's hash ring splits that range evenly between the
    /// servers, each in about ``RoleSpec/virtualNodes`` ranges.
    public var keySpace: UInt64
    /// How many servers keep a copy of each range besides its primary (`replication`, default 0);
    /// `k ≥ 1` needs at least `k + 1` servers.
    public var replication: Int
    /// The parameter tables, in the order the file lists them.
    public var tables: [TableSpec]
    /// How long nodes wait for each other.
    public var deadlines: Deadlines
    /// What the workers run.
    public var application: ApplicationSpec
    /// CurveZMQ keys, or plaintext and where it may bind (`security`).
    public var security: SecuritySpec
    /// What a node holds per peer: queues of replies, requests held before they can be served
    /// (`peer_limits`).
    public var peerLimits = PeerLimits.default
    /// Where each field was written, by field path (`tables[1].value_length`), so that validation
    /// can point at it. Not part of equality.
    public var locations: [String: TopologyLocation]

    /// Creates a topology; ``validate(updaters:)`` checks it.
    public init(
        name: String,
        manager: RoleSpec = RoleSpec(),
        servers: RoleSpec,
        workers: RoleSpec,
        keySpace: UInt64 = Topology.wholeKeySpace,
        replication: Int = 0,
        tables: [TableSpec],
        deadlines: Deadlines = .standard,
        application: ApplicationSpec,
        security: SecuritySpec = SecuritySpec(),
        locations: [String: TopologyLocation] = [:]
    ) {
        self.name = name
        self.manager = manager
        self.servers = servers
        self.workers = workers
        self.keySpace = keySpace
        self.replication = replication
        self.tables = tables
        self.deadlines = deadlines
        self.application = application
        self.security = security
        self.locations = locations
    }

    public static func == (lhs: Topology, rhs: Topology) -> Bool {
        lhs.name == rhs.name && lhs.manager == rhs.manager && lhs.servers == rhs.servers
            && lhs.workers == rhs.workers && lhs.keySpace == rhs.keySpace
            && lhs.replication == rhs.replication && lhs.tables == rhs.tables
            && lhs.deadlines == rhs.deadlines && lhs.application == rhs.application && lhs.security == rhs.security
            && lhs.peerLimits == rhs.peerLimits
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(manager)
        hasher.combine(servers)
        hasher.combine(workers)
        hasher.combine(keySpace)
        hasher.combine(replication)
        hasher.combine(tables)
        hasher.combine(deadlines)
        hasher.combine(application)
        hasher.combine(security)
        hasher.combine(peerLimits)
    }

    /// The key space when a topology gives none: every key but `UInt64.max` (see ``KeyRange/all``).
    public static let wholeKeySpace = UInt64.max

    // MARK: Keys

    /// The keys of the job, `[0, keySpace)`.
    public var keySpaceRange: KeyRange { KeyRange(0, keySpace) }

    // MARK: Roles and endpoints

    /// The specification of `role`; `nil` for ``NodeRole/client``, which topologies do not start.
    /// The CPU node `rank` of `role` is kept on, on a host with `onlineCPUs` CPUs: from the role's
    /// `cpus` list; with `cpus: auto`, server `i` on CPU `i` and worker `i` on CPU `servers + i`,
    /// both modulo the host's CPUs; otherwise none.
    public func cpu(role: NodeRole, rank: Int, onlineCPUs: Int = ThreadAffinity.onlineCPUs) -> Int? {
        guard let spec = spec(for: role) else { return nil }
        if let listed = spec.cpu(ofRank: rank) { return listed }
        guard spec.spreadsOverCPUs else { return nil }
        switch role {
        case .server: return rank % max(1, onlineCPUs)
        case .worker: return (servers.count + rank) % max(1, onlineCPUs)
        case .manager, .client: return nil
        }
    }

    public func spec(for role: NodeRole) -> RoleSpec? {
        switch role {
        case .manager: return manager
        case .server: return servers
        case .worker: return workers
        case .client: return nil
        }
    }

    /// The endpoint node `rank` of `role` binds: `tcp://BIND:PORT` or `tcp://BIND:*` when ephemeral.
    public func bindEndpoint(role: NodeRole, rank: Int) -> String {
        guard let spec = spec(for: role) else { preconditionFailure("a topology does not place \(role) nodes") }
        return spec.bindEndpoint(rank: rank)
    }

    /// The endpoint others reach node `rank` of `role` at, or `nil` when its port is ephemeral.
    public func connectEndpoint(role: NodeRole, rank: Int) -> String? {
        guard let spec = spec(for: role) else { preconditionFailure("a topology does not place \(role) nodes") }
        return spec.connectEndpoint(rank: rank)
    }

    /// The endpoint servers and workers register at, `tcp://HOST:PORT`; `nil` while the manager's
    /// port is ephemeral (`zps run` then learns the real port and overrides it).
    public var managerEndpoint: String? { manager.connectEndpoint(rank: 0) }

    /// How many nodes the topology starts: the manager, the servers and the workers.
    public var nodeCount: Int { 1 + servers.count + workers.count }

    // MARK: Tables

    /// The table called `name`.
    public func table(named name: String) -> TableSpec? { tables.first { $0.name == name } }

    /// The table with header id `id`.
    public func table(id: UInt32) -> TableSpec? { tables.first { $0.id == id } }

    // MARK: Locations

    /// Where the field at `path` was written, or else the nearest enclosing field that was
    /// (a defaulted `tables[1].id` points at `tables[1]`), or the start of the file.
    public func location(of path: String) -> TopologyLocation {
        var current = Substring(path)
        while true {
            if let location = locations[String(current)] { return location }
            guard let cut = current.lastIndex(where: { $0 == "." || $0 == "[" }) else { break }
            current = current[..<cut]
        }
        return locations[""] ?? TopologyLocation(file: name, line: 0, column: 0)
    }
}
