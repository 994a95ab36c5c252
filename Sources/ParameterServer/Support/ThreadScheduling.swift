import CSystem
#if canImport(Glibc)
import Glibc
#endif

/// The Linux scheduling policy of a node's I/O thread.
///
/// Under `SCHED_BATCH` a thread that is woken does not preempt the thread running on its CPU; it
/// runs when that one blocks or its slice ends. A node's I/O thread is woken by libzmq's I/O thread
/// for every message: with the default policy it preempts libzmq's thread in the middle of its
/// batch of reads and writes, and the two ping-pong. libzmq starts its I/O threads from the node's
/// I/O thread (with its first socket), and they inherit the policy. Batch scheduling lets each
/// finish its batch: at 1K keys with 8 requests in flight it saves 2–3 µs of CPU per request and
/// lifts throughput 10–25% (`zps-bench push-pull --keys 1000 --inflight 8`). The thread's nice
/// value, and so its share of the CPU, is unchanged; no privilege is needed.
public enum ThreadScheduling {
    /// Puts the calling thread under `SCHED_BATCH`; returns the `errno` when the kernel refuses.
    @discardableResult
    public static func useBatchPolicyForCurrentThread() -> Int32? {
        #if os(Linux)
        return zps_use_batch_scheduling() == 0 ? nil : errno
        #else
        return ENOSYS
        #endif
    }

    /// Puts the calling thread under the default policy, `SCHED_OTHER`; returns the `errno` when the
    /// kernel refuses. A thread inherits its creator's policy, and libdispatch may start a worker
    /// thread from a node's I/O thread that resumed a task: a thread that must run under the default
    /// policy says so instead of relying on where it was started.
    @discardableResult
    public static func useDefaultPolicyForCurrentThread() -> Int32? {
        #if os(Linux)
        return zps_use_default_scheduling() == 0 ? nil : errno
        #else
        return nil
        #endif
    }

    /// Whether the calling thread runs under `SCHED_BATCH`.
    public static var currentThreadUsesBatchPolicy: Bool {
        #if os(Linux)
        return zps_current_scheduling_policy() == SCHED_BATCH
        #else
        return false
        #endif
    }
}
