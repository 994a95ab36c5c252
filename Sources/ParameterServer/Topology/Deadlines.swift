/// How long the nodes of a job wait for each other before they give up.
public struct Deadlines: Hashable, Sendable {
    /// The time for every node to register with the manager.
    public var startup: Duration
    /// The time for one push or pull round trip.
    public var request: Duration
    /// The time for every worker to reach a barrier.
    public var barrier: Duration
    /// The time for a graceful shutdown to be acknowledged.
    public var shutdown: Duration
    /// How often a node tells the manager it is alive.
    public var heartbeatInterval: Duration
    /// How long a node may stay silent before the manager declares it dead; longer than the interval.
    public var heartbeatTimeout: Duration
    /// The time the whole job may take.
    public var job: Duration
    /// The time a server joining a running job may take to catch up, drain and switch; a join that
    /// takes longer is dropped, the joiner told to stop, and the next waiting joiner goes next.
    public var join: Duration

    /// Creates deadlines; each one left out takes its default.
    public init(
        startup: Duration = .seconds(30),
        request: Duration = .seconds(30),
        barrier: Duration = .seconds(120),
        shutdown: Duration = .seconds(10),
        heartbeatInterval: Duration = .milliseconds(500),
        heartbeatTimeout: Duration = .seconds(5),
        job: Duration = .seconds(30 * 60),
        join: Duration = .seconds(5 * 60)
    ) {
        self.startup = startup
        self.request = request
        self.barrier = barrier
        self.shutdown = shutdown
        self.heartbeatInterval = heartbeatInterval
        self.heartbeatTimeout = heartbeatTimeout
        self.job = job
        self.join = join
    }

    /// The defaults: 30 s startup and request, 120 s barrier, 10 s shutdown, heartbeats every 500 ms
    /// with a 5 s timeout, 30 min for the job, 5 min for a join.
    public static let standard = Deadlines()

    /// Each deadline with its name in topology files, in the order the documentation lists them.
    public var named: [(name: String, value: Duration)] {
        [
            ("startup", startup), ("request", request), ("barrier", barrier), ("shutdown", shutdown),
            ("heartbeat_interval", heartbeatInterval), ("heartbeat_timeout", heartbeatTimeout), ("job", job),
            ("join", join),
        ]
    }
}
