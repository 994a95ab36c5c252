import ParameterServer
import Foundation
import Testing
@testable import SparseLR

@Suite struct MetricsTests {
    /// AUC by comparing every positive with every negative, ties counting one half.
    static func bruteForceAUC(scores: [Float], labels: [Float]) -> Double {
        var wins = 0.0
        var pairs = 0.0
        for i in scores.indices where labels[i] == 1 {
            for j in scores.indices where labels[j] == 0 {
                pairs += 1
                if scores[i] > scores[j] { wins += 1 } else if scores[i] == scores[j] { wins += 0.5 }
            }
        }
        return wins / pairs
    }

    @Test(arguments: [1, 2, 3])
    func aucMatchesPairwiseCountWithTies(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        // Scores from only 20 distinct values, so ties are plentiful; labels correlate with scores.
        let scores = (0..<600).map { _ in Float(random.next() % 20) / 20 }
        let labels = scores.map { score -> Float in random.nextUnit() < Double(score) ? 1 : 0 }
        let fast = BinaryClassificationMetrics.auc(scores: scores, labels: labels)!
        let slow = Self.bruteForceAUC(scores: scores, labels: labels)
        #expect(abs(fast - slow) < 1e-12)
        #expect(fast > 0.6)
    }

    @Test func aucAccumulatesOverBatches() {
        var metrics = BinaryClassificationMetrics()
        metrics.add(predictions: [0.1, 0.4], labels: [0, 1])
        metrics.add(predictions: [0.35, 0.8, 0.4], labels: [0, 1, 0])
        // Positives 0.4 and 0.8 against negatives 0.1, 0.35, 0.4: 5 wins and one tie out of 6.
        #expect(metrics.auc == 5.5 / 6)
        #expect(metrics.count == 5)
        #expect(metrics.positiveCount == 2)
        #expect(BinaryClassificationMetrics.auc(scores: [0.5, 0.5], labels: [1, 1]) == nil)
        #expect(BinaryClassificationMetrics.auc(scores: [0, -0.0], labels: [1, 0]) == 0.5)
    }

    @Test func logLossAndAccuracyExact() {
        var metrics = BinaryClassificationMetrics()
        metrics.add(predictions: [0.5, 0.25, 0.75, 0.5], labels: [1, 0, 0, 0])
        let expected = (log(2.0) - log(0.75) - log(0.25) + log(2.0)) / 4
        #expect(abs(metrics.logLoss - expected) < 1e-12)
        // 0.5 counts as predicting a click: right, right, wrong, wrong.
        #expect(metrics.accuracy == 0.5)
    }

    @Test func logLossIsClipped() {
        var metrics = BinaryClassificationMetrics()
        metrics.add(predictions: [1, 0], labels: [0, 1])
        let clipped = -(log(1e-15) + log(1 - (1 - 1e-15))) / 2
        #expect(abs(metrics.logLoss - clipped) < 1e-12)
        #expect(metrics.logLoss > 34 && metrics.logLoss < 35)
    }
}
