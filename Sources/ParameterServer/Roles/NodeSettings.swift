/// What a server or worker process needs to know to join a cluster.
public struct NodeSettings: Sendable {
    /// The node's role (server or worker; foreign clients use ``NodeRole/client``).
    public var role: NodeRole
    /// The node's rank among its role, 0-based.
    public var rank: Int
    /// The manager's ROUTER endpoint.
    public var managerEndpoint: String
    /// The endpoint this node binds its ROUTER to (`tcp://127.0.0.1:*` for a free port).
    public var bindEndpoint: String
    /// The host others reach this node at: it registers `tcp://HOST:PORT` with the port it bound.
    /// `nil` registers the bound endpoint itself, which suits only an address others can connect to
    /// (not `0.0.0.0`, `*` or an interface name).
    public var advertisedHost: String?
    /// A file the node creates once the manager admitted it (its first node table), for readiness
    /// probes; `nil`: none.
    public var readyFile: String?
    /// The tables the cluster serves.
    public var tables: [TableSpec]
    /// Deadlines for registration, requests, barriers, heartbeats and shutdown.
    public var deadlines: Deadlines
    /// Limits applied to every message this node decodes.
    public var limits: WireLimits
    /// The CPU the node's I/O thread and libzmq's I/O thread are kept on (see ``ThreadAffinity``);
    /// `nil` lets them run on any.
    public var cpu: Int?
    /// Whether the node's I/O thread and libzmq's run under `SCHED_BATCH` (see ``ThreadScheduling``).
    public var batchScheduling = false
    /// How long the node's I/O thread polls for the next message before it blocks (see
    /// ``TransportSettings/busyPoll``); `.zero` blocks at once, `nil` picks by ``batchScheduling``.
    public var busyPoll: Duration?
    /// CurveZMQ on every socket, or plaintext (topology `security`); the default is plaintext
    /// anywhere, for tests and embedders that bind loopback.
    public var security = TransportSecurity.plaintext(beyondLoopback: true)
    /// What the node holds per peer: its ROUTER's queues, and (a server) the requests it holds
    /// before serving them (topology `peer_limits`).
    public var peerLimits = PeerLimits.default

    /// Creates node settings.
    public init(
        role: NodeRole, rank: Int, managerEndpoint: String, bindEndpoint: String, tables: [TableSpec],
        deadlines: Deadlines = .standard, limits: WireLimits = WireLimits(), cpu: Int? = nil
    ) {
        self.role = role
        self.rank = rank
        self.managerEndpoint = managerEndpoint
        self.bindEndpoint = bindEndpoint
        self.tables = tables
        self.deadlines = deadlines
        self.limits = limits
        self.cpu = cpu
    }

    /// The node's name in logs and errors, e.g. `worker-1`.
    public var name: String { "\(role)-\(rank)" }

    /// The endpoint the node registers with the manager, for others to connect to, given the one
    /// its ROUTER bound: ``advertisedHost`` with the bound port, or `bound` itself.
    public func advertisedEndpoint(bound: String) -> String {
        guard let advertisedHost, let colon = bound.lastIndex(of: ":"), let port = Int(bound[bound.index(after: colon)...])
        else { return bound }
        return RoleSpec.endpoint(host: advertisedHost, port: port)
    }

    /// The settings of the node's transport: its CPU, thread names, scheduling and busy polling.
    var transportSettings: TransportSettings {
        var settings = TransportSettings()
        settings.cpu = cpu
        settings.threadName = name
        settings.libzmqThreadPrefix = role.libzmqThreadPrefix(rank: rank)
        settings.batchScheduling = batchScheduling
        settings.security = security
        settings.busyPoll = busyPoll
        settings.peerLimits = peerLimits
        return settings
    }
}

/// The failure that ended a node, reported by its process as the exit reason.
public struct NodeFailure: Error, Hashable, Sendable, CustomStringConvertible {
    /// What happened, naming the peer at fault.
    public var message: String
    /// Whether the node itself was fine and the manager stopped it because the job failed elsewhere
    /// (its process exits with ``jobFailedElsewhereExitStatus``).
    public var elsewhere: Bool
    /// Creates a failure.
    public init(_ message: String, elsewhere: Bool = false) {
        self.message = message
        self.elsewhere = elsewhere
    }

    /// The exit status of a node the manager stopped because the job failed elsewhere; a node
    /// that failed itself exits with 1.
    public static let jobFailedElsewhereExitStatus: Int32 = 3
    public var description: String { message }
}

extension Duration {
    /// The duration in seconds, for messages (`2.5 s`).
    var secondsText: String {
        let (seconds, attoseconds) = components
        let value = Double(seconds) + Double(attoseconds) / 1e18
        return value == value.rounded() ? "\(Int(value)) s" : "\(((value * 10).rounded() / 10)) s"
    }
}
