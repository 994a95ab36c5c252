/// Binary search over a frame of sorted little-endian `UInt64` keys (possibly unaligned).
enum KeyFrameSearch {
    /// The first index in `from..<count` whose key is ≥ `bound` (`count` if none).
    static func firstIndex(in keys: UnsafeRawBufferPointer, count: Int, notBelow bound: UInt64, from start: Int = 0) -> Int {
        var low = start
        var high = count
        while low < high {
            let mid = (low + high) / 2
            if keys.loadUnaligned(fromByteOffset: 8 * mid, as: UInt64.self) < bound { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
