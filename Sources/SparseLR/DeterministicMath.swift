/// Math that rounds identically on every platform: only `+ − × ÷` and exact scaling by powers of two,
/// unlike the C library's `exp`, whose last bit may differ between implementations.
enum DeterministicMath {
    /// `e^x` to about 1e-15 relative error, for `x` in `[-700, 700]` (clamped outside).
    static func exp(_ x: Double) -> Double {
        let clamped = min(max(x, -700), 700)
        let ln2 = 0.693_147_180_559_945_3
        let k = (clamped / ln2).rounded()
        let r = clamped - k * ln2
        // Taylor series of e^r for |r| <= ln2 / 2, by Horner's rule.
        var sum = 1.0
        for index in stride(from: 18, through: 1, by: -1) {
            sum = 1 + r * sum / Double(index)
        }
        return sum * Double(sign: .plus, exponent: Int(k), significand: 1)
    }

    /// `1 / (1 + e^−x)`.
    static func sigmoid(_ x: Double) -> Double {
        1 / (1 + exp(-x))
    }
}
