/// What every scenario may read from the command line.
struct BenchOptions: Sendable {
    /// Runs of every trial; medians are taken over them.
    var repetitions: Int
    /// A smaller grid and fewer rounds, for a quick look.
    var quick: Bool
    /// The C reference programs, when ../shared/limits (or `--limits`) is present.
    var reference: CReference?
    /// Work per run, in keys: rounds are chosen so that one phase moves about this many keys.
    var keysPerPhase: Int
    /// Only keys-per-request sizes in this list (nil: the scenario's own grid).
    var keyCounts: [Int]?
    /// Only these transports (nil: the scenario's own choice).
    var transports: [BenchTransport]?
    /// Only these requests-in-flight counts (nil: the scenario's own grid).
    var windows: [Int]?
    /// Only the shapes that have a C reference (one server, one worker, scalar values, tcp).
    var referenceShapesOnly = false
    /// Keeps each node of the push-pull clusters on a CPU of its own (workers first, then servers).
    var pinned = false
    /// How long the nodes' I/O threads poll for the next message before they block; `nil`: the
    /// nodes' default.
    var busyPoll: Duration?
    /// The `failover` scenario's heartbeats, kills and server executable.
    var failover = FailoverSettings()
}

/// How the nodes of an in-process cluster reach each other.
enum BenchTransport: String, Sendable, CaseIterable {
    case tcp
    case ipc
}
