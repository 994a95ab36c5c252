import Foundation
import Testing
@testable import SparseLR

@Suite struct LogisticModelTests {
    /// Three examples over keys 3, 9, 1000, 42 with repeated keys inside an example.
    static let batch = ExampleBatch(
        labels: [1, 0, 1],
        rowOffsets: [0, 3, 5, 8],
        featureKeys: [9, 3, 9, 1000, 3, 42, 9, 1000],
        featureValues: [1, 0.5, 2, -1, 1.5, 1, 1, 3])

    @Test func uniqueKeysAreSortedWithSlots() {
        let keys = Self.batch.uniqueKeys()
        #expect(keys.keys == [3, 9, 42, 1000])
        #expect(keys.slots == [1, 0, 1, 3, 0, 2, 1, 3])
        #expect(BatchKeys(featureKeys: []).keys.isEmpty)
    }

    @Test func sigmoidAndLossAreStable() {
        #expect(LogisticModel.sigmoid(0) == 0.5)
        #expect(LogisticModel.sigmoid(-200) == 0)
        #expect(LogisticModel.sigmoid(200) == 1)
        #expect(abs(LogisticModel.sigmoid(2) - 0.880_797_1) < 1e-6)
        #expect(abs(LogisticModel.logLoss(margin: 0, label: 1) - log(2)) < 1e-15)
        // Far beyond where σ rounds to 1, the loss of a wrong label is still the margin itself.
        #expect(LogisticModel.logLoss(margin: 800, label: 0) == 800)
        #expect(LogisticModel.logLoss(margin: -800, label: 0) == 0)
    }

    @Test func marginsAndPredictions() {
        let keys = Self.batch.uniqueKeys()
        let weights: [Float] = [0.5, -1, 2, 0.25]  // keys 3, 9, 42, 1000
        // Example 0: -1*1 + 0.5*0.5 + -1*2 = -2.75; example 1: 0.25*-1 + 0.5*1.5 = 0.5; example 2: 2 - 1 + 0.75 = 1.75.
        #expect(LogisticModel.margins(batch: Self.batch, keys: keys, weights: weights) == [-2.75, 0.5, 1.75])
        let predictions = LogisticModel.predictions(batch: Self.batch, keys: keys, weights: weights)
        #expect(predictions == [-2.75, 0.5, 1.75].map { LogisticModel.sigmoid($0) })
    }

    @Test func gradientMatchesFiniteDifferences() {
        let keys = Self.batch.uniqueKeys()
        let weights: [Float] = [0.3, -0.2, 0.7, 0.1]
        var gradient: [Float] = [99]
        let loss = LogisticModel.gradient(batch: Self.batch, keys: keys, weights: weights, into: &gradient)
        #expect(abs(loss - LogisticModel.meanLoss(batch: Self.batch, keys: keys, weights: weights)) < 1e-12)
        #expect(gradient.count == 4)
        let step: Float = 1e-2
        for slot in 0..<4 {
            var plus = weights
            var minus = weights
            plus[slot] += step
            minus[slot] -= step
            let numeric = (LogisticModel.meanLoss(batch: Self.batch, keys: keys, weights: plus)
                - LogisticModel.meanLoss(batch: Self.batch, keys: keys, weights: minus)) / Double(2 * step)
            #expect(abs(numeric - Double(gradient[slot])) < 1e-4, "slot \(slot): \(numeric) vs \(gradient[slot])")
        }
    }

    @Test func meanLossOfZeroWeightsIsLogTwo() {
        let keys = Self.batch.uniqueKeys()
        #expect(abs(LogisticModel.meanLoss(batch: Self.batch, keys: keys, weights: [0, 0, 0, 0]) - log(2)) < 1e-12)
    }

    @Test func slicingABatchKeepsItsExamples() {
        let tail = Self.batch.examples(in: 1..<3)
        #expect(tail.rowOffsets == [0, 2, 5])
        #expect(tail[1] == Self.batch[2])
        var joined = Self.batch.examples(in: 0..<1)
        joined.append(contentsOf: tail)
        #expect(joined == Self.batch)
    }
}
