/// The Linux scheduling policy of a role's I/O threads, the topology's `scheduling` field.
public enum SchedulingPolicy: String, CaseIterable, Hashable, Sendable {
    /// `SCHED_BATCH`: a woken I/O thread waits for the running one to finish its batch of reads and
    /// writes instead of preempting it (see ``ThreadScheduling``). The default.
    case batch
    /// The kernel's default policy (`SCHED_OTHER`).
    case normal

    /// Whether the role's transports run under `SCHED_BATCH` (``TransportSettings/batchScheduling``).
    public var usesBatchScheduling: Bool { self == .batch }
}
