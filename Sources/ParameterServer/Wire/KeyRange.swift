/// A half-open range of keys `[lowerBound, upperBound)`.
///
/// `upperBound == 0` together with `lowerBound == 0` is the empty range; the whole key space is
/// `[0, UInt64.max)` (the key `UInt64.max` itself is reserved).
public struct KeyRange: Hashable, Sendable, CustomStringConvertible {
    /// The first key in the range.
    public var lowerBound: UInt64
    /// One past the last key in the range.
    public var upperBound: UInt64

    /// Creates `[lowerBound, upperBound)`; `lowerBound` must not exceed `upperBound`.
    public init(_ lowerBound: UInt64, _ upperBound: UInt64) {
        precondition(lowerBound <= upperBound, "KeyRange lower bound \(lowerBound) exceeds upper bound \(upperBound)")
        self.lowerBound = lowerBound
        self.upperBound = upperBound
    }

    /// The whole key space.
    public static let all = KeyRange(0, UInt64.max)

    /// The number of keys in the range.
    public var count: UInt64 { upperBound - lowerBound }

    /// Whether the range holds no key.
    public var isEmpty: Bool { lowerBound == upperBound }

    /// Whether `key` lies in the range.
    @inline(__always)
    public func contains(_ key: UInt64) -> Bool { key >= lowerBound && key < upperBound }

    /// Whether `other` lies entirely inside this range.
    public func contains(_ other: KeyRange) -> Bool {
        other.lowerBound >= lowerBound && other.upperBound <= upperBound
    }

    /// The keys both ranges hold (empty when they do not overlap).
    public func intersection(_ other: KeyRange) -> KeyRange {
        let lo = max(lowerBound, other.lowerBound)
        let hi = min(upperBound, other.upperBound)
        return lo < hi ? KeyRange(lo, hi) : KeyRange(lo, lo)
    }

    /// Splits the range into `parts` contiguous ranges of (almost) equal size, in key order.
    public func split(into parts: Int) -> [KeyRange] {
        precondition(parts > 0, "KeyRange.split needs at least one part")
        let n = UInt64(parts)
        let base = count / n
        let extra = count % n
        var result: [KeyRange] = []
        result.reserveCapacity(parts)
        var lo = lowerBound
        for i in 0..<n {
            let size = base + (i < extra ? 1 : 0)
            result.append(KeyRange(lo, lo + size))
            lo += size
        }
        return result
    }

    /// The range in interval notation, e.g. `[0, 100)`.
    public var description: String { "[\(lowerBound), \(upperBound))" }
}
