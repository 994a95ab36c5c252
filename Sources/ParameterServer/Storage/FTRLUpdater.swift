/// FTRL-Proximal (McMahan et al., KDD 2013), the optimizer of choice for sparse click models:
/// per coordinate `σ = (sqrt(n + g²) − sqrt(n)) / α; z += g − σ·w; n += g²`, then
/// `w = 0` if `|z| ≤ λ1`, else `w = −(z − sign(z)·λ1) / ((β + sqrt(n)) / α + λ2)`.
/// The weight is kept up to date after every push so that pulls are plain gathers. State: `z`, `n`.
public struct FTRLUpdater: Updater {
    public let name = "ftrl"
    public let stateWidth = 2
    /// α, the per-coordinate learning-rate scale.
    public var alpha: Float
    /// β, smoothing of the learning rate for rarely seen coordinates.
    public var beta: Float
    /// λ1, L1 strength: drives weights to exactly zero.
    public var l1: Float
    /// λ2, L2 strength.
    public var l2: Float

    /// Creates the updater; options: `alpha` (0.1), `beta` (1), `l1` (1), `l2` (0).
    public init(options: UpdaterOptions = UpdaterOptions()) throws {
        try options.validate(known: ["alpha", "beta", "l1", "l2"], updater: "ftrl")
        alpha = Float(options.value("alpha", default: 0.1))
        beta = Float(options.value("beta", default: 1))
        l1 = Float(options.value("l1", default: 1))
        l2 = Float(options.value("l2", default: 0))
        guard alpha > 0, beta >= 0, l1 >= 0, l2 >= 0 else {
            throw StorageError(.invalidRequest, "ftrl needs alpha > 0 and beta, l1, l2 >= 0")
        }
    }

    @inlinable
    public func update(_ value: inout Float, state: UnsafeMutablePointer<Float>, incoming g: Float) {
        var z = state[0]
        let n = state[1]
        let newN = n + g * g
        let sigma = (newN.squareRoot() - n.squareRoot()) / alpha
        z += g - sigma * value
        state[0] = z
        state[1] = newN
        if abs(z) <= l1 {
            value = 0
        } else {
            let sign: Float = z < 0 ? -1 : 1
            value = -(z - sign * l1) / ((beta + newN.squareRoot()) / alpha + l2)
        }
    }
}
