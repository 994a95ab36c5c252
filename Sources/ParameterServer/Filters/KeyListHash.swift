/// The 64-bit hash that names a key list in the key cache (header field `kh`).
///
/// Defined in docs/PROTOCOL.md so foreign clients can compute it: starting from
/// `h = 0x9E3779B97F4A7C15 ^ n`, for each key `k` in order `h = rotl(h ^ (k * 0xFF51AFD7ED558CCD), 29) *
/// 0xC4CEB9FE1A85EC53`, then the 64-bit finalizer of MurmurHash3 (`h ^= h >> 33; h *= 0xFF51AFD7ED558CCD;
/// h ^= h >> 33; h *= 0xC4CEB9FE1A85EC53; h ^= h >> 33`). All arithmetic wraps modulo 2^64.
/// A collision is possible and handled (the sender compares lists), so speed matters more than strength.
public enum KeyListHash {
    /// A function that hashes key lists; tests substitute a weak one to force collisions.
    public typealias Function = @Sendable (UnsafeRawBufferPointer) -> UInt64

    /// The hash of `count` little-endian keys at `bytes` (which may be unaligned).
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        let count = bytes.count / 8
        var hash: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(count)
        guard let base = bytes.baseAddress else { return finalize(hash) }
        for index in 0..<count {
            let key = base.loadUnaligned(fromByteOffset: index &* 8, as: UInt64.self)
            hash = rotateLeft(hash ^ (key &* 0xFF51_AFD7_ED55_8CCD), 29) &* 0xC4CE_B9FE_1A85_EC53
        }
        return finalize(hash)
    }

    /// The hash of a key array.
    public static func hash(_ keys: [UInt64]) -> UInt64 {
        keys.withUnsafeBytes { hash($0) }
    }

    @inline(__always)
    private static func rotateLeft(_ value: UInt64, _ bits: UInt64) -> UInt64 {
        (value << bits) | (value >> (64 - bits))
    }

    @inline(__always)
    private static func finalize(_ value: UInt64) -> UInt64 {
        var hash = value
        hash ^= hash >> 33
        hash &*= 0xFF51_AFD7_ED55_8CCD
        hash ^= hash >> 33
        hash &*= 0xC4CE_B9FE_1A85_EC53
        hash ^= hash >> 33
        return hash
    }
}
