#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// AUC, log-loss and accuracy of click predictions, accumulated over batches.
///
/// AUC needs every score, so they are kept (one `UInt64` per example); log-loss and accuracy are
/// running sums.
public struct BinaryClassificationMetrics: Sendable {
    /// Predicted probabilities are clipped to `[ε, 1 − ε]` before taking logarithms.
    public static let logLossEpsilon = 1e-15

    /// Each example's score as an order-preserving integer, shifted left one bit, with the label in bit 0.
    private var scoredLabels: [UInt64] = []
    private var logLossSum: Double = 0
    private var correct = 0
    /// The number of examples seen.
    public private(set) var count = 0
    /// The number of positive examples seen.
    public private(set) var positiveCount = 0

    /// No examples yet.
    public init() {}

    /// Adds predicted probabilities and their labels (0 or 1).
    public mutating func add(predictions: [Float], labels: [Float]) {
        precondition(predictions.count == labels.count, "predictions and labels differ in length")
        scoredLabels.reserveCapacity(scoredLabels.count + predictions.count)
        for (prediction, label) in zip(predictions, labels) {
            precondition(!prediction.isNaN, "a prediction is NaN")
            let positive = label > 0.5
            let clipped = min(max(Double(prediction), Self.logLossEpsilon), 1 - Self.logLossEpsilon)
            logLossSum -= positive ? log(clipped) : log(1 - clipped)
            if (prediction >= 0.5) == positive { correct += 1 }
            if positive { positiveCount += 1 }
            scoredLabels.append(UInt64(Self.orderedBits(prediction)) << 1 | (positive ? 1 : 0))
        }
        count += predictions.count
    }

    /// The mean clipped log-loss (0 with no examples).
    public var logLoss: Double { count == 0 ? 0 : logLossSum / Double(count) }

    /// The fraction of examples on the right side of 0.5 (0 with no examples).
    public var accuracy: Double { count == 0 ? 0 : Double(correct) / Double(count) }

    /// The area under the ROC curve: the probability that a random positive scores above a random
    /// negative, ties counting one half. Nil unless both classes occur.
    public var auc: Double? {
        let negatives = count - positiveCount
        guard positiveCount > 0, negatives > 0 else { return nil }
        var sorted = scoredLabels
        sorted.sort()
        // Ranks are 1-based; a run of tied scores shares the average of its ranks.
        var positiveRankSum: Double = 0
        sorted.withUnsafeBufferPointer { entries in
            var start = 0
            while start < entries.count {
                let score = entries[start] >> 1
                var end = start
                var positivesInRun = 0
                while end < entries.count && entries[end] >> 1 == score {
                    positivesInRun += Int(entries[end] & 1)
                    end += 1
                }
                let averageRank = Double(start + 1 + end) / 2
                positiveRankSum += averageRank * Double(positivesInRun)
                start = end
            }
        }
        let positives = Double(positiveCount)
        return (positiveRankSum - positives * (positives + 1) / 2) / (positives * Double(negatives))
    }

    /// The AUC of `scores` against `labels` in one call.
    public static func auc(scores: [Float], labels: [Float]) -> Double? {
        var metrics = BinaryClassificationMetrics()
        metrics.add(predictions: scores, labels: labels)
        return metrics.auc
    }

    /// Maps a float to an unsigned integer with the same order (−0 and +0 map alike).
    @inline(__always)
    private static func orderedBits(_ value: Float) -> UInt32 {
        let bits = (value == 0 ? Float(0) : value).bitPattern
        return bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
    }
}
