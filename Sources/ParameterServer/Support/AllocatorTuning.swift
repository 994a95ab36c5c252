import CSystem
import Synchronization

/// Settings of the C allocator for a process that moves large messages.
///
/// glibc serves an allocation above a moving threshold (128 KiB at first) with a mapping of its
/// own, and hands memory freed at the top of a thread's heap back to the system. A node moving
/// frames of hundreds of kilobytes (libzmq's receive buffers, pull replies, the arrays a pull
/// returns) then maps, faults in and releases the same memory on every request: about one page
/// fault per 4 KiB moved. Keeping freed buffers for reuse removes most of them: at 100K keys per
/// request with 8 in flight, page faults per request fall from about 85 to about 15 and CPU per
/// request by about a fifth (`zps-bench push-pull --keys 100000 --inflight 8`, with and without).
/// The cost is that a process keeps up to `trimThreshold` of freed memory per heap instead of
/// returning it to the system.
public enum AllocatorTuning {
    /// Allocations up to this size come from the heaps (glibc's largest accepted value on 64-bit).
    public static let mmapThreshold = 32 << 20
    /// Freed memory at the top of a heap is returned to the system only beyond this much.
    public static let trimThreshold = 256 << 20

    /// Whether ``keepLargeBuffers()`` set the thresholds, so that ``releaseFreeMemory()`` knows the
    /// trim threshold to put back.
    private static let keepsLargeBuffers = Atomic<Bool>(false)

    /// Applies both thresholds to the whole process; call it once, early, from an executable
    /// (not from a library embedded in someone else's process). Does nothing off glibc.
    public static func keepLargeBuffers() {
        #if canImport(Glibc)
        // Setting either fixes both thresholds, ending glibc's dynamic adjustment.
        _ = mallopt(M_MMAP_THRESHOLD, Int32(mmapThreshold))
        _ = mallopt(M_TRIM_THRESHOLD, Int32(trimThreshold))
        keepsLargeBuffers.store(true, ordering: .relaxed)
        #endif
    }

    /// Hands the memory freed in the calling thread's heap and in the free middles of every heap
    /// back to the system now. For rare moments after a large backlog went away (a peer that did
    /// not read its replies left): it walks every heap, so it is too slow to call per request. Call
    /// it on the thread that allocated the backlog. Does nothing off glibc.
    ///
    /// `malloc_trim` alone is not enough. It returns the free pages inside every heap, and the free
    /// top of the main heap, but not the free top of a thread's heap (glibc's `mtrim`): that shrinks
    /// only when `free` finds it beyond the trim threshold (`heap_trim`), and ``trimThreshold`` is
    /// above the 64 MiB a thread's heap can hold, so it never does. A backlog of replies built on a
    /// node's I/O thread is freed into exactly that top, and stayed resident: a server that queued
    /// 32 MiB of replies for a peer kept about 30 MiB after the peer left. So the threshold is
    /// lowered for one `free` of a block large enough to make `free` trim this thread's heap, then
    /// put back.
    public static func releaseFreeMemory() {
        #if canImport(Glibc)
        if keepsLargeBuffers.load(ordering: .relaxed) {
            _ = mallopt(M_TRIM_THRESHOLD, 0)
            // glibc trims a thread's heap in a free that leaves a free chunk of 64 KiB or more.
            free(malloc(trimmingFreeBytes))
            _ = mallopt(M_TRIM_THRESHOLD, Int32(trimThreshold))
        }
        _ = malloc_trim(0)
        #endif
    }

    /// The size of the block ``releaseFreeMemory()`` frees to make glibc trim the calling thread's
    /// heap: above glibc's `FASTBIN_CONSOLIDATION_THRESHOLD` (64 KiB).
    static let trimmingFreeBytes = 256 << 10
}
