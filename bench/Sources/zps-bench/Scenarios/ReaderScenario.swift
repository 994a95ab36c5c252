import Foundation
import SparseLR

/// The sparse-LR readers alone: parse and hash the real CTR samples (Criteo TSV, w8a LIBSVM,
/// Avazu CSV) in `../shared/data` (or `$ZPS_DATA`), in MB/s and examples/s. Skipped, with no trial, when the files are absent.
struct ReaderScenario: Scenario {
    var name: String { "reader" }
    var summary: String { "sparse-LR readers: parse + hash MB/s on the Criteo, w8a and Avazu (CSV) samples in ../shared/data" }

    static var dataDirectory: String { ProcessInfo.processInfo.environment["ZPS_DATA"] ?? "../shared/data" }

    func trials(_ options: BenchOptions) throws -> [Trial] {
        let files: [(label: String, file: String, read: @Sendable (String) throws -> Int)] = [
            ("criteo", "criteo_dac_train_head10k.tsv", { path in
                try Self.drain(ExampleReader(path: path, format: CriteoFormat(hasher: FeatureHasher(bits: 20))))
            }),
            ("w8a", "w8a.libsvm", { path in try Self.drain(ExampleReader(path: path, format: LIBSVMFormat())) }),
            ("avazu", "avazu_train_head10k.csv", { path in
                try Self.drain(ExampleReader(path: path, format: CSVFormat.avazu(hasher: FeatureHasher(bits: 20))))
            }),
        ]
        return files.compactMap { entry in
            let path = Self.dataDirectory + "/" + entry.file
            guard FileManager.default.fileExists(atPath: path) else { return nil }
            let read = entry.read
            return Trial(
                scenario: name, shape: "\(entry.label) \(entry.file)", parameters: ["file": entry.file], requestSize: nil,
                measure: { try Self.measure(path: path, passes: options.quick ? 3 : 10, read: read) }, reference: nil)
        }
    }

    static func drain<Format>(_ reader: ExampleReader<Format>) throws -> Int {
        var examples = 0
        while let batch = try reader.nextBatch() { examples += batch.count }
        return examples
    }

    static func measure(path: String, passes: Int, read: (String) throws -> Int) throws -> [Sample] {
        let bytes = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
        var examples = 0
        let start = ContinuousClock.now
        for _ in 0..<passes { examples += try read(path) }
        let seconds = (ContinuousClock.now - start).seconds
        return [
            Sample(metric: "parse MB/s", value: Double(bytes * passes) / seconds / 1e6, unit: "MB/s"),
            Sample(metric: "examples/s", value: Double(examples) / seconds, unit: "examples/s"),
        ]
    }
}
