import CSystem

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

    /// Applies both thresholds to the whole process; call it once, early, from an executable
    /// (not from a library embedded in someone else's process). Does nothing off glibc.
    public static func keepLargeBuffers() {
        #if canImport(Glibc)
        // Setting either fixes both thresholds, ending glibc's dynamic adjustment.
        _ = mallopt(M_MMAP_THRESHOLD, Int32(mmapThreshold))
        _ = mallopt(M_TRIM_THRESHOLD, Int32(trimThreshold))
        #endif
    }

    /// Hands the memory freed in every heap back to the system now (`malloc_trim`), whole pages in
    /// the middle of a heap included, which the trim threshold alone never returns. For rare moments
    /// after a large backlog went away (a peer that did not read its replies left): it walks every
    /// heap, so it is too slow to call per request. Does nothing off glibc.
    public static func releaseFreeMemory() {
        #if canImport(Glibc)
        _ = malloc_trim(0)
        #endif
    }
}
