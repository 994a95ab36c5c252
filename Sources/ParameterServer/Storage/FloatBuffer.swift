import CSystem

#if canImport(Glibc)
import Glibc
#endif

/// A fixed number of floats in memory of their own: the values and updater state of a
/// ``RangeStore``.
///
/// ``zeroed(count:)`` costs nothing per float when it is made. A large buffer is a fresh anonymous
/// mapping, whose pages the kernel fills with zeros when each is first touched: a store of 10^7 keys
/// is ready at once, and the zeroing is spread over the requests that first write each page,
/// instead of stalling the server's I/O thread (and its heartbeats) for the whole range when the
/// node table comes. The mapping is advised `MADV_HUGEPAGE` before its first touch, so that the
/// kernel backs each aligned 2 MiB of it with one page: a dense store is read and written at keys
/// spread over its whole range, and in 4 KiB pages nearly every key of a request would cost a TLB
/// miss (at 1,000 keys per request the add and gather loops over a 2^24-key store run about 1.6
/// times as fast, `zps-bench apply`). Where the kernel's transparent huge pages are `never` the
/// pages are ordinary ones. A small buffer comes from `calloc`.
///
/// Not copyable: one store owns it, and it is freed with the store.
struct FloatBuffer: ~Copyable {
    /// The first float; `nil` for an empty buffer.
    let baseAddress: UnsafeMutablePointer<Float>?
    /// How many floats the buffer holds.
    let count: Int
    /// Bytes mapped with `mmap` (0 when the memory came from `calloc` or `malloc`).
    private let mappedBytes: Int

    /// Buffers at least this large are mappings of their own; smaller ones come from `calloc`.
    static let mappingThreshold = 1 << 20

    /// An empty buffer.
    init() {
        baseAddress = nil
        count = 0
        mappedBytes = 0
    }

    private init(baseAddress: UnsafeMutablePointer<Float>?, count: Int, mappedBytes: Int) {
        self.baseAddress = baseAddress
        self.count = count
        self.mappedBytes = mappedBytes
    }

    /// `count` zeros, written by the kernel as each page is first touched (see the type's comment).
    static func zeroed(count: Int) -> FloatBuffer {
        precondition(count >= 0, "a buffer holds a non-negative number of floats")
        guard count > 0 else { return FloatBuffer() }
        let bytes = count * MemoryLayout<Float>.stride
        if bytes >= mappingThreshold {
            let mapped = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            if let mapped, mapped != MAP_FAILED {
                // Advice only: where the kernel refuses it, the pages are ordinary ones.
                _ = zps_advise_huge_pages(mapped, bytes)
                return FloatBuffer(
                    baseAddress: mapped.bindMemory(to: Float.self, capacity: count), count: count, mappedBytes: bytes)
            }
        }
        guard let memory = calloc(count, MemoryLayout<Float>.stride) else {
            fatalError("out of memory: \(bytes) bytes for a store of \(count) floats")
        }
        return FloatBuffer(baseAddress: memory.bindMemory(to: Float.self, capacity: count), count: count, mappedBytes: 0)
    }

    /// `count` floats with no values yet: the caller writes every one before any is read.
    static func uninitialized(count: Int) -> FloatBuffer {
        precondition(count >= 0, "a buffer holds a non-negative number of floats")
        guard count > 0 else { return FloatBuffer() }
        guard let memory = malloc(count * MemoryLayout<Float>.stride) else {
            fatalError("out of memory: \(count * MemoryLayout<Float>.stride) bytes for a store of \(count) floats")
        }
        return FloatBuffer(baseAddress: memory.bindMemory(to: Float.self, capacity: count), count: count, mappedBytes: 0)
    }

    deinit {
        guard let baseAddress else { return }
        if mappedBytes > 0 {
            munmap(baseAddress, mappedBytes)
        } else {
            free(baseAddress)
        }
    }

    /// The floats `range`, copied into an array.
    func array(_ range: Range<Int>) -> [Float] {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "floats \(range) outside a buffer of \(count)")
        guard let baseAddress, !range.isEmpty else { return [] }
        return Array(UnsafeBufferPointer(start: baseAddress + range.lowerBound, count: range.count))
    }

    /// The whole buffer.
    var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: baseAddress, count: count) }
}
