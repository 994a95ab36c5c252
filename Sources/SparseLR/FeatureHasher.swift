/// Hashes field-aware tokens (`"field=value"`) into a key space of `2^bits` keys plus one bias key.
///
/// The hash is 64-bit FNV-1a over the UTF-8 bytes of the token, finished with MurmurHash3's `fmix64`
/// avalanche so that the low bits, which become the key, depend on every byte. FNV-1a is incremental:
/// the state after `"field="` is computed once per field (``fieldState(_:)``), and each value is
/// hashed by continuing from it, so no token string is ever built. Keys are `hash mod 2^bits`; the
/// bias key is `2^bits`, just past the hashed space, so it never collides with a token.
public struct FeatureHasher: Sendable, Hashable {
    /// The number of key bits of hashed tokens.
    public let bits: Int
    /// `2^bits − 1`: masks a hash to a key.
    public let mask: UInt64

    /// Creates a hasher over `2^bits` keys; `bits` must be in 1...62.
    public init(bits: Int = 20) {
        precondition((1...62).contains(bits), "FeatureHasher bits must be in 1...62, got \(bits)")
        self.bits = bits
        self.mask = (UInt64(1) << UInt64(bits)) &- 1
    }

    /// The reserved key of the constant bias feature.
    public var biasKey: UInt64 { mask &+ 1 }

    /// The number of keys a model over this hasher needs: the hashed space and the bias key.
    public var dimension: Int { Int(mask) + 2 }

    /// The hash state after the bytes of `"field="`; continue it with ``key(continuing:value:)``.
    public func fieldState(_ field: String) -> TokenHash {
        var state = TokenHash()
        var copy = field
        copy.withUTF8 { state.combine(UnsafeRawBufferPointer($0)) }
        state.combine(UInt8(ascii: "="))
        return state
    }

    /// The key of the token whose prefix hashed to `state`, followed by the bytes of `value`.
    @inlinable
    public func key(continuing state: TokenHash, value: UnsafeRawBufferPointer) -> UInt64 {
        var state = state
        state.combine(value)
        return state.finalized() & mask
    }

    /// The key of a finished token state.
    @inlinable
    public func key(_ state: TokenHash) -> UInt64 { state.finalized() & mask }

    /// The key of the whole token in `token` (e.g. the bytes of `"C3=68fd1e64"`).
    @inlinable
    public func key(token: UnsafeRawBufferPointer) -> UInt64 {
        key(continuing: TokenHash(), value: token)
    }

    /// The key of `"field=value"`; a convenience for tests and tools, not for hot paths.
    public func key(field: String, value: String) -> UInt64 {
        var copy = value
        return copy.withUTF8 { key(continuing: fieldState(field), value: UnsafeRawBufferPointer($0)) }
    }
}

/// An incremental 64-bit FNV-1a hash state; ``finalized()`` applies the `fmix64` avalanche.
public struct TokenHash: Sendable, Hashable {
    /// The running FNV-1a state.
    public var state: UInt64

    /// The FNV-1a offset basis: the state before any byte.
    public init() { state = 0xcbf2_9ce4_8422_2325 }

    /// Adds one byte.
    @inlinable @inline(__always)
    public mutating func combine(_ byte: UInt8) {
        state = (state ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
    }

    /// Adds the bytes of `bytes`, in order.
    @inlinable
    public mutating func combine(_ bytes: UnsafeRawBufferPointer) {
        var current = state
        for byte in bytes {
            current = (current ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        state = current
    }

    /// The state mixed so that every input bit affects every output bit.
    @inlinable
    public func finalized() -> UInt64 {
        var value = state
        value ^= value >> 33
        value &*= 0xff51_afd7_ed55_8ccd
        value ^= value >> 33
        value &*= 0xc4ce_b9fe_1a85_ec53
        value ^= value >> 33
        return value
    }
}
