/// Failure detection from heartbeats, on the manager: a node silent for ``Settings/suspectAfter``
/// is suspected, and one silent for ``Settings/timeout`` is declared dead, once.
///
/// A pure state machine: the shell reports heartbeats and ticks with the time they happened, and
/// performs the ``Directive``s (log a suspicion, start recovery for a dead node). It never reads a
/// clock, so tests drive it with fake instants and exact expectations. A node is suspected at the
/// first tick at or after `lastHeard + suspectAfter` and declared dead at the first tick at or after
/// `lastHeard + timeout`; ``nextDeadline`` says when that tick is due.
public struct FailureDetector: Hashable, Sendable {
    /// The instants the detector works with.
    public typealias Instant = ContinuousClock.Instant

    /// How often nodes beat and how long a silence may last.
    public struct Settings: Hashable, Sendable {
        /// How often every node sends a heartbeat.
        public var interval: Duration
        /// The silence after which a node is suspected: `missedHeartbeats × interval`.
        public var suspectAfter: Duration
        /// The silence after which a node is declared dead; at least ``suspectAfter``.
        public var timeout: Duration

        /// Settings that suspect a node after `missedHeartbeats` missed beats and declare it dead
        /// after `timeout` of silence (by default one more interval than the suspicion).
        public init(interval: Duration = .milliseconds(50), missedHeartbeats: Int = 3, timeout: Duration? = nil) {
            precondition(interval > .zero, "the heartbeat interval must be positive")
            precondition(missedHeartbeats >= 1, "a node is suspected after at least one missed heartbeat")
            self.interval = interval
            suspectAfter = interval * missedHeartbeats
            self.timeout = timeout ?? interval * (missedHeartbeats + 1)
            precondition(self.timeout >= suspectAfter, "the timeout must not be shorter than the suspicion")
        }

        /// Settings from a topology's `deadlines`: beats every `heartbeat_interval`, suspected after
        /// `missedHeartbeats` missed beats (at most `heartbeat_timeout`), dead after `heartbeat_timeout`.
        public init(deadlines: Deadlines, missedHeartbeats: Int = 3) {
            self.init(interval: deadlines.heartbeatInterval, missedHeartbeats: missedHeartbeats)
            suspectAfter = min(suspectAfter, deadlines.heartbeatTimeout)
            timeout = deadlines.heartbeatTimeout
        }
    }

    /// What the shell must do.
    public enum Directive: Hashable, Sendable {
        /// The node missed its heartbeats: report it; it is not yet dead.
        case suspect(NodeID, silentFor: Duration)
        /// A suspected node was heard again.
        case recovered(NodeID)
        /// The node was silent for the timeout: it is dead and no longer watched. Recover its ranges.
        case dead(NodeID, silentFor: Duration)
        /// A heartbeat came from a node that is not watched (it never joined, or was declared dead):
        /// tell it to stop; it may join again under a new id.
        case heardFromUnknown(NodeID)
    }

    /// How the detector sees a watched node.
    public enum Status: Hashable, Sendable {
        /// Heard from within the suspicion window.
        case alive
        /// Silent for at least ``Settings/suspectAfter``.
        case suspected
    }

    private struct Watched: Hashable, Sendable {
        var lastHeard: Instant
        var suspected: Bool
    }

    /// The settings in use.
    public let settings: Settings
    private var watched: [NodeID: Watched] = [:]

    /// A detector watching no node.
    public init(settings: Settings = Settings()) { self.settings = settings }

    /// Starts watching `node`, as if it was heard at `now`.
    public mutating func watch(_ node: NodeID, at now: Instant) {
        watched[node] = Watched(lastHeard: now, suspected: false)
    }

    /// Stops watching `node` (it left the cluster in good order).
    public mutating func forget(_ node: NodeID) { watched[node] = nil }

    /// The watched nodes, ordered by id.
    public var nodes: [NodeID] { watched.keys.sorted() }

    /// How the detector sees `node`, `nil` when it is not watched.
    public func status(of node: NodeID) -> Status? {
        watched[node].map { $0.suspected ? .suspected : .alive }
    }

    /// When `node` was last heard.
    public func lastHeard(_ node: NodeID) -> Instant? { watched[node]?.lastHeard }

    /// Records a heartbeat (or any message) from `node` at `now`.
    public mutating func heartbeat(from node: NodeID, at now: Instant) -> [Directive] {
        guard var entry = watched[node] else { return [.heardFromUnknown(node)] }
        let wasSuspected = entry.suspected
        entry.lastHeard = max(entry.lastHeard, now)
        entry.suspected = false
        watched[node] = entry
        return wasSuspected ? [.recovered(node)] : []
    }

    /// Checks every watched node at `now`; directives come ordered by node id.
    public mutating func tick(at now: Instant) -> [Directive] {
        var directives: [Directive] = []
        for node in nodes {
            guard let entry = watched[node] else { continue }
            let silence = now - entry.lastHeard
            if silence >= settings.timeout {
                watched[node] = nil
                directives.append(.dead(node, silentFor: silence))
            } else if silence >= settings.suspectAfter, !entry.suspected {
                watched[node]?.suspected = true
                directives.append(.suspect(node, silentFor: silence))
            }
        }
        return directives
    }

    /// The earliest instant at which ``tick(at:)`` will suspect or declare dead a node that stays
    /// silent; `nil` when nothing is watched.
    public var nextDeadline: Instant? {
        watched.values.map { $0.lastHeard + ($0.suspected ? settings.timeout : settings.suspectAfter) }.min()
    }
}
