/// The per-coordinate optimizer updates, as pure functions of one coordinate's state and gradient.
///
/// The parameter servers apply exactly these formulas (same operations, same order, in `Float`), so
/// ``LocalTrainer`` and a distributed job given the same gradients produce the same weights.
public enum UpdateRules {
    /// SGD with L2: `w −= learningRate · (g + l2 · w)`.
    @inlinable
    public static func sgd(weight: inout Float, gradient: Float, learningRate: Float, l2: Float) {
        weight -= learningRate * (gradient + l2 * weight)
    }

    /// AdaGrad with L2 folded into the gradient: `g' = g + l2 · w; n += g'²; w −= learningRate · g' / (√n + ε)`.
    @inlinable
    public static func adaGrad(
        weight: inout Float, squaredGradientSum n: inout Float, gradient: Float,
        learningRate: Float, epsilon: Float, l2: Float
    ) {
        let g = gradient + l2 * weight
        let newN = n + g * g
        n = newN
        weight -= learningRate * g / (newN.squareRoot() + epsilon)
    }

    /// FTRL-Proximal (McMahan et al. 2013): `σ = (√(n + g²) − √n) / α; z += g − σ·w; n += g²`, then
    /// `weight` becomes ``ftrlWeight(z:n:alpha:beta:l1:l2:)`` of the new state. `weight` must be the
    /// weight of the old state (0 for a fresh coordinate).
    @inlinable
    public static func ftrl(
        weight: inout Float, z: inout Float, n: inout Float, gradient g: Float,
        alpha: Float, beta: Float, l1: Float, l2: Float
    ) {
        let newN = n + g * g
        let sigma = (newN.squareRoot() - n.squareRoot()) / alpha
        z += g - sigma * weight
        n = newN
        weight = ftrlWeight(z: z, n: newN, alpha: alpha, beta: beta, l1: l1, l2: l2)
    }

    /// The FTRL-Proximal weight of a coordinate: 0 if `|z| ≤ l1`, else `−(z − sign(z)·l1) / ((β + √n)/α + l2)`.
    @inlinable
    public static func ftrlWeight(z: Float, n: Float, alpha: Float, beta: Float, l1: Float, l2: Float) -> Float {
        if abs(z) <= l1 { return 0 }
        let sign: Float = z < 0 ? -1 : 1
        return -(z - sign * l1) / ((beta + n.squareRoot()) / alpha + l2)
    }
}
