import Foundation
import Testing
@testable import SparseLR

@Suite struct TrainedModelTests {
    static let encoding = FeatureEncoding(
        format: .csv, hashBits: 18, bias: false, labelColumn: "y", ignoredColumns: ["id", "time"], separator: UInt8(ascii: ";"))

    @Test("the file text restores the encoding and every weight exactly")
    func roundTrip() throws {
        let weights: [(key: UInt64, weight: Float)] = [(9, -0.1), (3, 1e-7), (262_143, 3.4028235e38), (5, 0), (7, .ulpOfOne)]
        let model = TrainedModel(encoding: Self.encoding, weights: weights)
        #expect(model.keys == [3, 7, 9, 262_143])
        let text = model.fileText()
        #expect(text.hasPrefix("zps-sparse-lr 1\nformat csv\nhash_bits 18\nbias false\nlabel_column y\nignored_columns id,time\nseparator 59\nweights 4\n3 1e-07\n"))
        let restored = try TrainedModel(fileText: text, name: "m.txt")
        #expect(restored == model)
        #expect(restored.weight(forKey: 9) == -0.1)
        #expect(restored.weight(forKey: 4) == 0)
    }

    @Test("malformed files name the line")
    func errors() throws {
        let good = TrainedModel(encoding: Self.encoding, weights: [(1, 0.5), (2, 0.25)]).fileText()
        #expect(throws: DataFormatError(file: "m", line: 1, detail: "not a zps model file (expected \"zps-sparse-lr 1\")")) {
            try TrainedModel(fileText: "hello\n", name: "m")
        }
        #expect(throws: DataFormatError(file: "m", line: 10, detail: "key 1 does not follow 2 in ascending order")) {
            try TrainedModel(fileText: good.replacingOccurrences(of: "1 0.5\n2 0.25", with: "2 0.5\n1 0.25"), name: "m")
        }
        #expect(throws: DataFormatError(file: "m", line: 10, detail: "expected \"KEY WEIGHT\", found \"\"")) {
            try TrainedModel(fileText: good.replacingOccurrences(of: "2 0.25\n", with: ""), name: "m")
        }
        #expect(throws: DataFormatError(file: "m", line: 9, detail: "the file ends early")) {
            try TrainedModel(fileText: String(good[..<good.range(of: "weights 2")!.upperBound]), name: "m")
        }
        #expect(throws: DataFormatError(file: "m", line: 3, detail: "hash_bits must be an integer in 1...40")) {
            try TrainedModel(fileText: good.replacingOccurrences(of: "hash_bits 18", with: "hash_bits 99"), name: "m")
        }
    }

    @Test("a saved model predicts what the weights say, file to file")
    func writeReadPredict() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zps-model-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = directory.appendingPathComponent("d.libsvm").path
        try "1 1:1 3:2\n0 2:1\n\n-1 1:0.5 2:1\n".write(toFile: data, atomically: true, encoding: .utf8)
        let encoding = FeatureEncoding(format: .libsvm)
        #expect(encoding.biasKey == 0)
        #expect(encoding.keyBound == nil)
        let model = TrainedModel(encoding: encoding, weights: [(0, -1), (1, 2), (2, -0.5), (3, 0.25)])
        let path = directory.appendingPathComponent("model.txt").path
        try model.write(to: path)
        let loaded = try TrainedModel.read(from: path)
        let examples = try loaded.encoding.readAll(path: data, selection: .all)
        #expect(examples.count == 3)
        let predictions = loaded.predict(examples)
        // Margins: −1 + 2 + 0.5; −1 − 0.5; −1 + 1 − 0.5.
        #expect(predictions == [LogisticModel.sigmoid(1.5), LogisticModel.sigmoid(-1.5), LogisticModel.sigmoid(-0.5)])
        let hashed = FeatureEncoding(format: .criteo, hashBits: 12)
        #expect(hashed.biasKey == 4096 && hashed.keyBound == 4097)
    }
}
