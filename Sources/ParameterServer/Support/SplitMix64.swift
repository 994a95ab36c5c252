/// SplitMix64 (Steele, Lea and Flood 2014): a tiny seeded generator whose output depends only on the
/// seed, on every platform, so generated data sets are bit-reproducible.
public struct SplitMix64: RandomNumberGenerator, Sendable, Hashable {
    /// The generator's whole state.
    public var state: UInt64

    /// A generator starting from `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    @inlinable
    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var value = state
        value = (value ^ (value >> 30)) &* 0xbf58_476d_1ce4_e5b9
        value = (value ^ (value >> 27)) &* 0x94d0_49bb_1331_11eb
        return value ^ (value >> 31)
    }

    /// A uniform `Double` in `[0, 1)` from the top 53 bits.
    @inlinable
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// An approximately standard normal value: the sum of 12 uniforms minus 6 (Irwin–Hall), which uses
    /// only additions and so rounds identically everywhere, unlike `log`/`cos` based methods.
    @inlinable
    public mutating func nextApproximateNormal() -> Double {
        var sum = 0.0
        for _ in 0..<12 { sum += nextUnit() }
        return sum - 6
    }
}
