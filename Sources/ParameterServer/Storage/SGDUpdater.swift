/// Plain stochastic gradient descent with optional L2: `w -= learning_rate * (g + l2 * w)`.
public struct SGDUpdater: Updater {
    public let name = "sgd"
    public let stateWidth = 0
    /// Step size.
    public var learningRate: Float
    /// L2 penalty.
    public var l2: Float

    /// Creates the updater; options: `learning_rate` (0.1), `l2` (0).
    public init(options: UpdaterOptions = UpdaterOptions()) throws {
        try options.validate(known: ["learning_rate", "l2"], updater: "sgd")
        learningRate = Float(options.value("learning_rate", default: 0.1))
        l2 = Float(options.value("l2", default: 0))
        guard learningRate > 0, l2 >= 0 else {
            throw StorageError(.invalidRequest, "sgd needs learning_rate > 0 and l2 >= 0")
        }
    }

    @inlinable
    public func update(_ value: inout Float, state: UnsafeMutablePointer<Float>, incoming: Float) {
        value -= learningRate * (incoming + l2 * value)
    }
}
