/// AdaGrad: per-coordinate step sizes from the accumulated squared gradient.
/// `n += g²; w -= learning_rate * g / (sqrt(n) + epsilon)`. State: `n`.
public struct AdaGradUpdater: Updater {
    public let name = "adagrad"
    public let stateWidth = 1
    /// Base step size.
    public var learningRate: Float
    /// Keeps the first steps finite.
    public var epsilon: Float
    /// L2 penalty added to the gradient.
    public var l2: Float

    /// Creates the updater; options: `learning_rate` (0.1), `epsilon` (1e-8), `l2` (0).
    public init(options: UpdaterOptions = UpdaterOptions()) throws {
        try options.validate(known: ["learning_rate", "epsilon", "l2"], updater: "adagrad")
        learningRate = Float(options.value("learning_rate", default: 0.1))
        epsilon = Float(options.value("epsilon", default: 1e-8))
        l2 = Float(options.value("l2", default: 0))
        guard learningRate > 0, epsilon > 0, l2 >= 0 else {
            throw StorageError(.invalidRequest, "adagrad needs learning_rate > 0, epsilon > 0 and l2 >= 0")
        }
    }

    @inlinable
    public func update(_ value: inout Float, state: UnsafeMutablePointer<Float>, incoming: Float) {
        let g = incoming + l2 * value
        let n = state[0] + g * g
        state[0] = n
        value -= learningRate * g / (n.squareRoot() + epsilon)
    }
}
