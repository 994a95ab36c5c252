/// What the manager needs to run a job.
public struct ManagerSettings: Sendable {
    /// The endpoint the manager binds (`tcp://127.0.0.1:*` for a free port).
    public var bindEndpoint: String
    /// Servers expected to register.
    public var servers: Int
    /// Workers expected to register.
    public var workers: Int
    /// The key space the servers split between them.
    public var keySpace: KeyRange
    /// Deadlines for registration, barriers, heartbeats, shutdown and the whole job.
    public var deadlines: Deadlines
    /// Limits applied to every message the manager decodes.
    public var limits: WireLimits
    /// The CPU the manager's I/O thread and libzmq's I/O thread are kept on; `nil`: any.
    public var cpu: Int?
    /// Whether the manager's I/O thread and libzmq's run under `SCHED_BATCH` (see ``ThreadScheduling``).
    public var batchScheduling = false
    /// Replicas per key range beyond its primary (topology `replication: k`). With k ≥ 1 the job
    /// goes on when a server dies: each of its ranges is taken over by the next server of the
    /// range's chain (docs/FAULT-TOLERANCE.md).
    public var replication = 0
    /// Tokens each server places on the hash ring that splits the key space (topology
    /// `servers: { virtual_nodes: V }`): each server holds about V ranges, and with replication a
    /// dead server's ranges and load spread over up to V others.
    public var virtualNodes = HashRing.defaultVirtualNodes
    /// CurveZMQ on every socket, or plaintext (topology `security`); the default is plaintext
    /// anywhere, for tests and embedders that bind loopback.
    public var security = TransportSecurity.plaintext(beyondLoopback: true)

    /// Creates manager settings.
    public init(
        bindEndpoint: String, servers: Int, workers: Int, keySpace: KeyRange, deadlines: Deadlines = .standard,
        limits: WireLimits = WireLimits(), cpu: Int? = nil
    ) {
        self.bindEndpoint = bindEndpoint
        self.servers = servers
        self.workers = workers
        self.keySpace = keySpace
        self.deadlines = deadlines
        self.limits = limits
        self.cpu = cpu
    }

    /// The settings of the manager's transport. Its I/O thread does not poll before it blocks: the
    /// manager waits on all its sockets, never on one alone.
    var transportSettings: TransportSettings {
        var settings = TransportSettings()
        settings.cpu = cpu
        settings.threadName = "manager"
        settings.libzmqThreadPrefix = NodeRole.manager.libzmqThreadPrefix(rank: 0)
        settings.batchScheduling = batchScheduling
        settings.security = security
        settings.busyPoll = .zero
        return settings
    }
}

/// The result of a job as the manager saw it.
public struct JobReport: Sendable, Hashable {
    /// Per worker (by rank): its summary line, or its failure.
    public var workerSummaries: [String]
    /// Why the job failed, naming the node at fault; nil when it succeeded.
    public var failure: String?
    /// Nodes that did not acknowledge the shutdown in time.
    public var unacknowledged: [String]
    /// Servers lost while the job ran and what took over their ranges, one line each, with the
    /// time from the last heartbeat heard to the new node table.
    public var recoveries: [String] = []
}
