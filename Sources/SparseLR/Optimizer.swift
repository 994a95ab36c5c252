/// The optimizer that turns gradients into weights, with its hyper-parameters.
///
/// ``updaterName`` and ``updaterOptions`` name the parameter-server updater that applies the same
/// rule (see ``UpdateRules``), so a topology can be written from a tuned local run.
public enum Optimizer: Sendable, Hashable {
    /// Plain SGD with L2.
    case sgd(learningRate: Float, l2: Float = 0)
    /// AdaGrad with L2.
    case adaGrad(learningRate: Float, epsilon: Float = 1e-8, l2: Float = 0)
    /// FTRL-Proximal with L1 and L2.
    case ftrl(alpha: Float, beta: Float = 1, l1: Float = 1, l2: Float = 0)

    /// The number of `Float`s of state per coordinate besides the weight.
    public var stateWidth: Int {
        switch self {
        case .sgd: return 0
        case .adaGrad: return 1
        case .ftrl: return 2
        }
    }

    /// The name of the server-side updater implementing this rule.
    public var updaterName: String {
        switch self {
        case .sgd: return "sgd"
        case .adaGrad: return "adagrad"
        case .ftrl: return "ftrl"
        }
    }

    /// The server-side updater's options for these hyper-parameters.
    public var updaterOptions: [String: Double] {
        switch self {
        case .sgd(let learningRate, let l2):
            return ["learning_rate": Double(learningRate), "l2": Double(l2)]
        case .adaGrad(let learningRate, let epsilon, let l2):
            return ["learning_rate": Double(learningRate), "epsilon": Double(epsilon), "l2": Double(l2)]
        case .ftrl(let alpha, let beta, let l1, let l2):
            return ["alpha": Double(alpha), "beta": Double(beta), "l1": Double(l1), "l2": Double(l2)]
        }
    }
}
