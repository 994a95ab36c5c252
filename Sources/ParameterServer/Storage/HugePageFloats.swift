import CSystem

/// Zero-filled float arrays for dense stores, backed by transparent huge pages where the kernel
/// offers them.
///
/// A dense store is read and written at keys spread over its whole range, so in 4 KiB pages nearly
/// every key of a request costs a TLB miss and a page walk, even when the values themselves are in
/// the cache. The array's memory is advised `MADV_HUGEPAGE` before its first touch, so the kernel
/// backs each aligned 2 MiB of it with one page: at 1,000 keys per request the add and gather loops
/// over a 2^24-key store run about 1.6 times as fast (`zps-bench apply`). On a kernel whose
/// transparent huge pages are set to `always` this changes nothing; where they are `never`, or the
/// memory was touched before, the array is an ordinary one.
enum HugePageFloats {
    /// `count` zeros in memory advised for huge pages.
    static func zeroed(count: Int) -> [Float] {
        guard count > 0 else { return [] }
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            // Advice only: where the kernel refuses it, the pages are ordinary ones.
            _ = zps_advise_huge_pages(buffer.baseAddress, buffer.count * MemoryLayout<Float>.stride)
            buffer.initialize(repeating: 0)
            initialized = count
        }
    }
}
