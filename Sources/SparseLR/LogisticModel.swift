#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The math of logistic regression on a batch: margins, probabilities, mean log-loss and its gradient.
///
/// Weights and gradients are aligned with a ``BatchKeys`` (what a worker pulls and pushes), and each
/// feature occurrence finds its weight through ``BatchKeys/slots``. The model is
/// `p = σ(Σ w_key · value)`; the loss is the mean over the batch of `−y log p − (1 − y) log(1 − p)`.
public enum LogisticModel {
    /// `1 / (1 + e^−margin)`, without overflow for large negative margins.
    @inlinable
    public static func sigmoid(_ margin: Float) -> Float {
        if margin >= 0 {
            return 1 / (1 + exp(-margin))
        }
        let e = exp(margin)
        return e / (1 + e)
    }

    /// The log-loss of `label` (0 or 1) under `margin`: `max(m, 0) − y·m + log(1 + e^−|m|)`, exact
    /// even where `σ(m)` rounds to 0 or 1.
    @inlinable
    public static func logLoss(margin: Double, label: Double) -> Double {
        max(margin, 0) - label * margin + log1p(exp(-abs(margin)))
    }

    /// The margin `Σ w·x` of every example; `weights` are aligned with `keys.keys`.
    public static func margins(batch: ExampleBatch, keys: BatchKeys, weights: [Float]) -> [Float] {
        precondition(weights.count == keys.count, "weights must be aligned with the batch's unique keys")
        precondition(keys.slots.count == batch.featureValues.count, "keys do not index this batch")
        var result = [Float](repeating: 0, count: batch.count)
        batch.rowOffsets.withUnsafeBufferPointer { offsets in
            batch.featureValues.withUnsafeBufferPointer { values in
                keys.slots.withUnsafeBufferPointer { slots in
                    weights.withUnsafeBufferPointer { weights in
                        result.withUnsafeMutableBufferPointer { margins in
                            for example in margins.indices {
                                var sum: Float = 0
                                for feature in Int(offsets[example])..<Int(offsets[example + 1]) {
                                    sum += weights[Int(slots[feature])] * values[feature]
                                }
                                margins[example] = sum
                            }
                        }
                    }
                }
            }
        }
        return result
    }

    /// The click probability of every example.
    public static func predictions(batch: ExampleBatch, keys: BatchKeys, weights: [Float]) -> [Float] {
        margins(batch: batch, keys: keys, weights: weights).map(sigmoid)
    }

    /// Writes into `gradient` (resized to `keys.count`) the gradient of the batch's mean log-loss with
    /// respect to the weights, aligned with `keys.keys`, and returns that mean loss.
    ///
    /// The gradient is `(1/B) Σ_i (p_i − y_i) x_i`: a key absent from the batch would get 0, so only
    /// touched keys are sent.
    @discardableResult
    public static func gradient(
        batch: ExampleBatch, keys: BatchKeys, weights: [Float], into gradient: inout [Float]
    ) -> Double {
        let margins = margins(batch: batch, keys: keys, weights: weights)
        gradient.removeAll(keepingCapacity: true)
        gradient.append(contentsOf: repeatElement(0, count: keys.count))
        guard !batch.isEmpty else { return 0 }
        let scale = 1 / Float(batch.count)
        var lossSum: Double = 0
        batch.rowOffsets.withUnsafeBufferPointer { offsets in
            batch.labels.withUnsafeBufferPointer { labels in
                batch.featureValues.withUnsafeBufferPointer { values in
                    keys.slots.withUnsafeBufferPointer { slots in
                        gradient.withUnsafeMutableBufferPointer { gradient in
                            for example in 0..<labels.count {
                                let margin = margins[example]
                                let label = labels[example]
                                lossSum += logLoss(margin: Double(margin), label: Double(label))
                                let residual = (sigmoid(margin) - label) * scale
                                for feature in Int(offsets[example])..<Int(offsets[example + 1]) {
                                    gradient[Int(slots[feature])] += residual * values[feature]
                                }
                            }
                        }
                    }
                }
            }
        }
        return lossSum / Double(batch.count)
    }

    /// The mean log-loss of the batch under `weights`, aligned with `keys.keys`.
    public static func meanLoss(batch: ExampleBatch, keys: BatchKeys, weights: [Float]) -> Double {
        guard !batch.isEmpty else { return 0 }
        let margins = margins(batch: batch, keys: keys, weights: weights)
        var sum: Double = 0
        for (margin, label) in zip(margins, batch.labels) {
            sum += logLoss(margin: Double(margin), label: Double(label))
        }
        return sum / Double(batch.count)
    }
}
