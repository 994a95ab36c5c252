import Foundation
import Testing
@testable import SparseLR

@Suite struct RealDataTests {
    static let hasher = FeatureHasher(bits: 20)

    @Test(RealData.required(RealData.criteo))
    func criteoParses() throws {
        let batch = try RealData.read(RealData.criteo, CriteoFormat())
        #expect(batch.count == 10_000)
        #expect(batch.positiveCount == 2182)
        #expect(batch.featureCount == 390_000)
    }

    @Test(RealData.required(RealData.w8a))
    func w8aParses() throws {
        let batch = try RealData.read(RealData.w8a, LIBSVMFormat())
        #expect(batch.count == 49_749)
        #expect(batch.positiveCount == 1479)
        #expect(batch.featureKeys.max() == 300)
    }

    @Test(RealData.required(RealData.avazu))
    func avazuParses() throws {
        let batch = try RealData.read(RealData.avazu, CSVFormat.avazu())
        #expect(batch.count == 9999)
        #expect(batch.positiveCount == 1706)
        #expect(batch.featureCount == 9999 * 21)
    }

    /// FTRL(α 0.05, β 1, λ1 1, λ2 1), one example per step, 2 epochs in file order, bias feature.
    @Test(RealData.required(RealData.criteo))
    func criteoTrainerBeatsTheBaseline() throws {
        let train = try RealData.read(RealData.criteo, CriteoFormat(), RowSelection(rows: 0..<8000), biasKey: Self.hasher.biasKey)
        let test = try RealData.read(RealData.criteo, CriteoFormat(), RowSelection(rows: 8000..<10_000), biasKey: Self.hasher.biasKey)
        #expect(test.count == 2000)
        var trainer = LocalTrainer(optimizer: .ftrl(alpha: 0.05, beta: 1, l1: 1, l2: 1), dimension: Self.hasher.dimension)
        trainer.train(on: train, batchSize: 1, epochs: 2)
        let metrics = trainer.evaluate(test)
        #expect(metrics.auc! >= 0.74)
        #expect(metrics.logLoss <= 0.47)
    }

    /// FTRL(α 0.1, β 1, λ1 1, λ2 1), one example per step, 3 epochs in file order, bias feature.
    @Test(RealData.required(RealData.avazu))
    func avazuTrainerReachesTarget() throws {
        let train = try RealData.read(RealData.avazu, CSVFormat.avazu(), RowSelection(rows: 0..<8000), biasKey: Self.hasher.biasKey)
        let test = try RealData.read(RealData.avazu, CSVFormat.avazu(), RowSelection(rows: 8000..<10_000), biasKey: Self.hasher.biasKey)
        #expect(test.count == 1999)
        var trainer = LocalTrainer(optimizer: .ftrl(alpha: 0.1, beta: 1, l1: 1, l2: 1), dimension: Self.hasher.dimension)
        trainer.train(on: train, batchSize: 1, epochs: 3)
        #expect(trainer.evaluate(test).auc! >= 0.72)
    }

    /// FTRL(α 0.2, β 1, λ1 0.1, λ2 0), one example per step, 2 shuffled epochs (the file is sorted by label).
    @Test(RealData.required(RealData.w8a))
    func w8aTrainerReachesTarget() throws {
        let train = try RealData.read(RealData.w8a, LIBSVMFormat(), RowSelection(excluded: Shard(4, of: 5)), biasKey: 0)
        let test = try RealData.read(RealData.w8a, LIBSVMFormat(), RowSelection(shard: Shard(4, of: 5)), biasKey: 0)
        #expect(test.count == 9949)
        var trainer = LocalTrainer(optimizer: .ftrl(alpha: 0.2, beta: 1, l1: 0.1, l2: 0))
        trainer.train(on: train, batchSize: 1, epochs: 2, shuffleSeed: 1)
        #expect(trainer.evaluate(test).auc! >= 0.95)
    }
}
