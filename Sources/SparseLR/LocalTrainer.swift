import ParameterServer
/// A single-process reference trainer: minibatch training on a dense local weight array, with the
/// same steps a distributed worker and server take.
///
/// Per batch: index the unique keys, "pull" their weights, compute the mean log-loss gradient with
/// ``LogisticModel``, and "push" it through ``UpdateRules`` key by key, as a server would. Keys index
/// the arrays directly, which grow to the largest key seen, so keys must be small (hashed keys, or
/// LIBSVM indices).
public struct LocalTrainer: Sendable {
    /// The largest key a local trainer accepts; its arrays are dense.
    public static let maximumKey: UInt64 = 1 << 30

    /// The update rule and its hyper-parameters.
    public let optimizer: Optimizer
    /// The weight of every key below ``dimension``.
    public private(set) var weights: [Float]
    /// Per-coordinate optimizer state: AdaGrad's squared-gradient sum, or FTRL's `z`.
    private var firstState: [Float]
    /// FTRL's `n`.
    private var secondState: [Float]
    /// Reused between batches.
    private var pulled: [Float] = []
    private var gradient: [Float] = []

    /// A trainer with all weights 0, sized for `dimension` keys up front (it grows as needed).
    public init(optimizer: Optimizer, dimension: Int = 0) {
        self.optimizer = optimizer
        weights = [Float](repeating: 0, count: dimension)
        firstState = [Float](repeating: 0, count: optimizer.stateWidth >= 1 ? dimension : 0)
        secondState = [Float](repeating: 0, count: optimizer.stateWidth >= 2 ? dimension : 0)
    }

    /// The number of keys the arrays cover.
    public var dimension: Int { weights.count }

    /// The weight of `key` (0 for a key never trained).
    public func weight(forKey key: UInt64) -> Float {
        key < UInt64(weights.count) ? weights[Int(key)] : 0
    }

    /// One optimizer step on `batch`; returns the batch's mean log-loss before the step.
    @discardableResult
    public mutating func train(on batch: ExampleBatch) -> Double {
        guard !batch.isEmpty else { return 0 }
        let keys = batch.uniqueKeys()
        grow(toInclude: keys.keys[keys.count - 1])
        gatherWeights(keys.keys)
        let loss = LogisticModel.gradient(batch: batch, keys: keys, weights: pulled, into: &gradient)
        apply(gradient: gradient, keys: keys.keys)
        return loss
    }

    /// Trains on `examples`, `batchSize` at a time, `epochs` times; returns the mean training loss of
    /// the last epoch (measured before each step).
    ///
    /// With a `shuffleSeed`, each epoch visits the examples in a fresh pseudo-random order (needed when
    /// a file is sorted by label, as w8a is); without one, in file order.
    @discardableResult
    public mutating func train(
        on examples: ExampleBatch, batchSize: Int, epochs: Int = 1, shuffleSeed: UInt64? = nil
    ) -> Double {
        precondition(batchSize > 0 && epochs >= 0, "batchSize must be positive and epochs not negative")
        var lastEpochLoss: Double = 0
        var order = Array(0..<examples.count)
        var random = SplitMix64(seed: shuffleSeed ?? 0)
        for _ in 0..<epochs {
            if shuffleSeed != nil {
                // Fisher–Yates with our own generator, so the order is the same on every platform.
                for index in stride(from: order.count - 1, to: 0, by: -1) {
                    order.swapAt(index, Int(random.next() % UInt64(index + 1)))
                }
            }
            var weightedLoss: Double = 0
            var start = 0
            while start < examples.count {
                let end = min(start + batchSize, examples.count)
                let batch = shuffleSeed == nil
                    ? examples.examples(in: start..<end) : examples.examples(at: order[start..<end])
                weightedLoss += train(on: batch) * Double(end - start)
                start = end
            }
            lastEpochLoss = examples.isEmpty ? 0 : weightedLoss / Double(examples.count)
        }
        return lastEpochLoss
    }

    /// The click probability of every example of `batch`.
    public func predict(_ batch: ExampleBatch) -> [Float] {
        let keys = batch.uniqueKeys()
        let gathered = keys.keys.map { weight(forKey: $0) }
        return LogisticModel.predictions(batch: batch, keys: keys, weights: gathered)
    }

    /// AUC, log-loss and accuracy on `batch`.
    public func evaluate(_ batch: ExampleBatch) -> BinaryClassificationMetrics {
        var metrics = BinaryClassificationMetrics()
        metrics.add(predictions: predict(batch), labels: batch.labels)
        return metrics
    }

    private mutating func grow(toInclude key: UInt64) {
        precondition(key <= Self.maximumKey, "LocalTrainer keeps dense arrays; key \(key) exceeds \(Self.maximumKey)")
        let needed = Int(key) + 1
        guard needed > weights.count else { return }
        let extra = needed - weights.count
        weights.append(contentsOf: repeatElement(0, count: extra))
        if optimizer.stateWidth >= 1 { firstState.append(contentsOf: repeatElement(0, count: extra)) }
        if optimizer.stateWidth >= 2 { secondState.append(contentsOf: repeatElement(0, count: extra)) }
    }

    private mutating func gatherWeights(_ keys: [UInt64]) {
        pulled.removeAll(keepingCapacity: true)
        weights.withUnsafeBufferPointer { weights in
            for key in keys { pulled.append(weights[Int(key)]) }
        }
    }

    private mutating func apply(gradient: [Float], keys: [UInt64]) {
        keys.withUnsafeBufferPointer { keys in
            gradient.withUnsafeBufferPointer { gradient in
                weights.withUnsafeMutableBufferPointer { weights in
                    switch optimizer {
                    case .sgd(let learningRate, let l2):
                        for (slot, key) in keys.enumerated() {
                            UpdateRules.sgd(
                                weight: &weights[Int(key)], gradient: gradient[slot], learningRate: learningRate, l2: l2)
                        }
                    case .adaGrad(let learningRate, let epsilon, let l2):
                        firstState.withUnsafeMutableBufferPointer { sums in
                            for (slot, key) in keys.enumerated() {
                                UpdateRules.adaGrad(
                                    weight: &weights[Int(key)], squaredGradientSum: &sums[Int(key)],
                                    gradient: gradient[slot], learningRate: learningRate, epsilon: epsilon, l2: l2)
                            }
                        }
                    case .ftrl(let alpha, let beta, let l1, let l2):
                        firstState.withUnsafeMutableBufferPointer { z in
                            secondState.withUnsafeMutableBufferPointer { n in
                                for (slot, key) in keys.enumerated() {
                                    UpdateRules.ftrl(
                                        weight: &weights[Int(key)], z: &z[Int(key)], n: &n[Int(key)],
                                        gradient: gradient[slot], alpha: alpha, beta: beta, l1: l1, l2: l2)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
