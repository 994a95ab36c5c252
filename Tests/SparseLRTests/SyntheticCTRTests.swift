import ParameterServer
import Foundation
import Testing
@testable import SparseLR

@Suite struct SyntheticCTRTests {
    @Test func sameSeedGivesIdenticalBytes() {
        var first = SyntheticCTRGenerator(seed: 11)
        var second = SyntheticCTRGenerator(seed: 11)
        var other = SyntheticCTRGenerator(seed: 12)
        let a = first.generate(rows: 300)
        let b = second.generate(rows: 300)
        #expect(a.text == b.text)
        #expect(a.probabilities == b.probabilities)
        #expect(other.generate(rows: 300).text != a.text)
    }

    @Test func generatorIsPinned() {
        // The first values of SplitMix64 from seed 0 (reference implementation).
        var random = SplitMix64(seed: 0)
        #expect(random.next() == 0xe220_a839_7b1d_cdaf)
        #expect(random.next() == 0x6e78_9e6a_a1b9_65f4)
        #expect(abs(DeterministicMath.exp(1) - M_E) < 1e-15)
        #expect(abs(DeterministicMath.exp(-20.5) - Foundation.exp(-20.5)) / Foundation.exp(-20.5) < 1e-14)
    }

    @Test func generatedFileParsesWithCriteoQuirks() throws {
        var generator = SyntheticCTRGenerator(seed: 5)
        let (text, probabilities) = generator.generate(rows: 2000)
        let batch = try ExampleReader(bytes: text, name: "synthetic.tsv", format: CriteoFormat()).readAll()
        #expect(batch.count == 2000)
        #expect(batch.featureCount == 2000 * 39)
        let lines = String(decoding: text, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 2001)
        #expect(lines.dropLast().allSatisfy { $0.split(separator: "\t", omittingEmptySubsequences: false).count == 40 })
        #expect(lines.contains { $0.hasSuffix("\t\t") })
        #expect(lines.contains { $0.split(separator: "\t", omittingEmptySubsequences: false)[2].hasPrefix("-") })
        #expect(batch.labels == lines.dropLast().map { $0.hasPrefix("1") ? 1 : 0 })
        #expect(probabilities.allSatisfy { $0 > 0 && $0 < 1 })
    }

    @Test func dataIsLearnable() throws {
        var generator = SyntheticCTRGenerator(seed: 2024)
        let (text, probabilities) = generator.generate(rows: 10_000)
        let hasher = FeatureHasher(bits: 20)
        let labels = try ExampleReader(bytes: text, name: "s", format: CriteoFormat()).readAll().labels
        let positiveRate = Double(labels.reduce(0, +)) / Double(labels.count)
        #expect(positiveRate > 0.15 && positiveRate < 0.30, "positive rate \(positiveRate)")
        let trueAUC = BinaryClassificationMetrics.auc(scores: probabilities.map { Float($0) }, labels: labels)!
        #expect(trueAUC > 0.75 && trueAUC < 0.85, "true-model AUC \(trueAUC)")
        let options = { (rows: Range<Int>) in ReaderOptions(selection: RowSelection(rows: rows), biasKey: hasher.biasKey) }
        let train = try ExampleReader(bytes: text, name: "s", format: CriteoFormat(), options: options(0..<8000)).readAll()
        let test = try ExampleReader(bytes: text, name: "s", format: CriteoFormat(), options: options(8000..<10_000)).readAll()
        var trainer = LocalTrainer(optimizer: .ftrl(alpha: 0.05, beta: 1, l1: 1, l2: 1), dimension: hasher.dimension)
        let trainLoss = trainer.train(on: train, batchSize: 1, epochs: 2)
        let metrics = trainer.evaluate(test)
        let learned = metrics.auc!
        #expect(learned > 0.65, "learned AUC \(learned)")
        // Pinned: this run (seed 2024, 10,000 rows, 20 hash bits, FTRL α 0.05 β 1 λ1 1 λ2 1, batch 1,
        // 2 epochs in file order, trained on rows 1-8000, tested on 8001-10000) as the code computed it.
        #expect(abs(learned - 0.723_650_787_758_586_8) < 1e-6, "AUC \(learned)")
        #expect(abs(metrics.logLoss - 0.410_315_047_783_629_4) < 1e-6, "test log-loss \(metrics.logLoss)")
        #expect(abs(trainLoss - 0.373_487_177_991_293_6) < 1e-6, "train log-loss \(trainLoss)")
    }

    @Test func writesFileAndProbabilities() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sparselr-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var writer = SyntheticCTRGenerator(seed: 3)
        try writer.write(rows: 120, to: directory + "/data.tsv", probabilitiesPath: directory + "/p.txt")
        var reference = SyntheticCTRGenerator(seed: 3)
        let (text, probabilities) = reference.generate(rows: 120)
        #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/data.tsv")) == Data(text))
        let written = try String(contentsOfFile: directory + "/p.txt", encoding: .utf8).split(separator: "\n").map { Double($0)! }
        #expect(written == probabilities)
    }
}
