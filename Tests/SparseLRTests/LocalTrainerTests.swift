import Testing
@testable import SparseLR

@Suite struct UpdateRulesTests {
    @Test func sgdStep() {
        var weight: Float = 1
        UpdateRules.sgd(weight: &weight, gradient: 0.5, learningRate: 0.1, l2: 0.5)
        #expect(abs(weight - 0.9) < 1e-7)
    }

    @Test func adaGradSteps() {
        var weight: Float = 0
        var sum: Float = 0
        UpdateRules.adaGrad(weight: &weight, squaredGradientSum: &sum, gradient: 2, learningRate: 0.5, epsilon: 0, l2: 0)
        #expect(sum == 4)
        #expect(weight == -0.5)
        UpdateRules.adaGrad(weight: &weight, squaredGradientSum: &sum, gradient: 0, learningRate: 0.5, epsilon: 0, l2: 2)
        // g' = 0 + 2 * -0.5 = -1; n = 5; w = -0.5 + 0.5 / √5.
        #expect(sum == 5)
        #expect(weight == -0.5 + 0.5 * 1 / Float(5).squareRoot())
    }

    @Test func ftrlFollowsMcMahan() {
        var weight: Float = 0
        var z: Float = 0
        var n: Float = 0
        UpdateRules.ftrl(weight: &weight, z: &z, n: &n, gradient: 0.5, alpha: 0.1, beta: 1, l1: 1, l2: 0)
        // σ = √0.25 / 0.1 = 5, z = 0.5 − 5·0 = 0.5, |z| ≤ l1 so the weight stays 0.
        #expect(z == 0.5 && n == 0.25 && weight == 0)
        UpdateRules.ftrl(weight: &weight, z: &z, n: &n, gradient: 2, alpha: 0.1, beta: 1, l1: 1, l2: 2)
        // n = 4.25, σ = (√4.25 − 0.5) / 0.1, z = 2.5; w = −(2.5 − 1) / ((1 + √4.25) / 0.1 + 2).
        #expect(n == 4.25)
        #expect(z == 2.5)
        #expect(weight == -(2.5 - 1) / ((1 + Float(4.25).squareRoot()) / 0.1 + 2))
        #expect(UpdateRules.ftrlWeight(z: -3, n: 0, alpha: 1, beta: 1, l1: 1, l2: 0) == 2)
    }

    @Test func optimizerNamesServerUpdaters() {
        #expect(Optimizer.ftrl(alpha: 0.05, beta: 1, l1: 1, l2: 1).updaterName == "ftrl")
        #expect(Optimizer.ftrl(alpha: 0.5, beta: 1, l1: 1, l2: 1).updaterOptions == ["alpha": 0.5, "beta": 1, "l1": 1, "l2": 1])
        #expect(Optimizer.adaGrad(learningRate: 0.25).updaterOptions == ["learning_rate": 0.25, "epsilon": Double(Float(1e-8)), "l2": 0])
    }
}

@Suite struct LocalTrainerTests {
    /// Key 1 predicts a click, key 2 its absence; key 3 is noise.
    static let batch = ExampleBatch(
        labels: [1, 0, 1, 0], rowOffsets: [0, 2, 4, 5, 6], featureKeys: [1, 3, 2, 3, 1, 2], featureValues: [1, 1, 1, 1, 1, 1])

    /// Each optimizer with what its run below computed (pinned): the mean training log-loss of the
    /// 30th epoch, and the log-loss of the trained model on the batch.
    @Test(arguments: [
        (Optimizer.sgd(learningRate: 1), 0.034_975_953_627_495_754, 0.034_102_022_445_900_076),
        (.adaGrad(learningRate: 0.5), 0.031_830_544_381_999_754, 0.031_099_453_466_475_167),
        (.ftrl(alpha: 0.5, beta: 1, l1: 0, l2: 0), 0.126_998_526_477_233_34, 0.124_324_483_356_163_33),
    ])
    func learnsSeparableData(optimizer: Optimizer, pinnedLastLoss: Double, pinnedLogLoss: Double) {
        var trainer = LocalTrainer(optimizer: optimizer)
        let first = trainer.train(on: Self.batch, batchSize: 4, epochs: 1)
        let last = trainer.train(on: Self.batch, batchSize: 2, epochs: 30)
        #expect(abs(first - 0.693_147_18) < 1e-6)
        #expect(last < 0.2)
        #expect(abs(last - pinnedLastLoss) < 1e-6, "last epoch's loss \(last)")
        let logLoss = trainer.evaluate(Self.batch).logLoss
        #expect(abs(logLoss - pinnedLogLoss) < 1e-6, "log-loss \(logLoss)")
        #expect(trainer.weight(forKey: 1) > 1 && trainer.weight(forKey: 2) < -1)
        #expect(trainer.evaluate(Self.batch).auc == 1)
        #expect(trainer.dimension == 4)
        #expect(trainer.weight(forKey: 1_000_000) == 0)
    }

    @Test func oneStepAppliesTheMeanGradient() {
        var trainer = LocalTrainer(optimizer: .sgd(learningRate: 1))
        trainer.train(on: Self.batch)
        // At w = 0 every p is 0.5; key 1: (−0.5 −0.5)/4, key 2: (0.5 + 0.5)/4, key 3: (−0.5 + 0.5)/4.
        #expect(trainer.weights == [0, 0.25, -0.25, 0])
    }

    @Test func shuffledEpochsAreReproducible() {
        var first = LocalTrainer(optimizer: .ftrl(alpha: 0.3, beta: 1, l1: 0.1, l2: 0))
        var second = LocalTrainer(optimizer: .ftrl(alpha: 0.3, beta: 1, l1: 0.1, l2: 0))
        first.train(on: Self.batch, batchSize: 1, epochs: 3, shuffleSeed: 9)
        second.train(on: Self.batch, batchSize: 1, epochs: 3, shuffleSeed: 9)
        #expect(first.weights == second.weights)
        #expect(first.weights != [0, 0, 0, 0])
        // Pinned: the log-loss of this run (FTRL α 0.3 β 1 λ1 0.1, batch 1, 3 epochs shuffled with seed 9).
        let logLoss = first.evaluate(Self.batch).logLoss
        #expect(abs(logLoss - 0.500_710_730_585_482_5) < 1e-6, "log-loss \(logLoss)")
    }
}
