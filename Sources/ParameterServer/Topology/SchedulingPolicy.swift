/// The Linux scheduling policy of a role's I/O threads, the topology's `scheduling` field.
public enum SchedulingPolicy: String, CaseIterable, Hashable, Sendable {
    /// `SCHED_BATCH`: a woken I/O thread waits for the running one to finish its batch of reads and
    /// writes instead of preempting it (see ``ThreadScheduling``). For hosts the nodes have to themselves.
    case batch
    /// The kernel's default policy (`SCHED_OTHER`). The default: a batch-scheduled node gives its CPU
    /// to every other process on the host.
    case normal

    /// Whether the role's transports run under `SCHED_BATCH` (``TransportSettings/batchScheduling``).
    public var usesBatchScheduling: Bool { self == .batch }
}
