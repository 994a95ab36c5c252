import Foundation
import ParameterServer
import SparseLR
import Testing

/// One worker and one server under sequential consistency leave no freedom to the cluster: every pull
/// sees every earlier push, in order. So a `zps run` of sparse LR must save the very model that a
/// single process computes by feeding the same minibatches through the server's own updater.
@Suite("Sparse LR: a sequential one-worker cluster against the local run", .serialized)
struct SparseLRSequentialClusterTests {
    static let hashBits = 14
    static let ftrl: [String: Double] = ["alpha": 0.1, "beta": 1, "l1": 0.5, "l2": 2]
    static let epochs = 2
    static let minibatch = 25

    /// A one-server, one-worker, sequential topology training table `weights` with FTRL from `train`.
    static func topology(in directory: URL, train: String, model: String) throws -> String {
        let options = ftrl.keys.sorted().map { "\($0): \(ftrl[$0]!)" }.joined(separator: ", ")
        let yaml = """
            name: sparse-lr-sequential
            manager: { host: 127.0.0.1, port: 0 }
            servers: { count: 1, host: 127.0.0.1, port: 0 }
            workers: { count: 1, host: 127.0.0.1, port: 0 }
            key_space: \((1 << hashBits) + 1)
            tables:
              - { name: weights, value_length: 1, updater: ftrl, updater_options: { \(options) }, consistency: sequential }
            deadlines: { startup: 60s, barrier: 300s }
            application:
              kind: sparse_lr
              format: criteo
              hash_bits: \(hashBits)
              train: \(train)
              epochs: \(epochs)
              minibatch: \(minibatch)
              save_model: \(model)

            """
        let path = directory.appendingPathComponent("topology.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The model a single process trains: consecutive minibatches of the file, each one's gradient
    /// summed over its examples (the `sum` scale a cluster worker pushes by default) and applied by the
    /// server's `ftrl` updater on a ``RangeStore`` over the whole key space.
    static func localModel(encoding: FeatureEncoding, train: String) throws -> (model: TrainedModel, lastEpochLoss: Double) {
        let examples = try encoding.readAll(path: train, selection: RowSelection())
        let keySpace = KeyRange(0, encoding.keyBound!)
        let updater = try UpdaterRegistry.builtIn.make("ftrl", options: UpdaterOptions(ftrl))
        let store = RangeStore(range: keySpace, valueLength: 1, updater: updater)
        var gradient: [Float] = []
        var lossSum = 0.0
        for _ in 0..<epochs {
            lossSum = 0
            var start = 0
            while start < examples.count {
                let batch = examples.examples(in: start..<min(start + minibatch, examples.count))
                start += batch.count
                let keys = batch.uniqueKeys()
                var weights = [Float](repeating: .nan, count: keys.count)
                keys.keys.withUnsafeBytes { keyBytes in
                    weights.withUnsafeMutableBytes { store.pull(keys: keyBytes.baseAddress!, count: keys.count, into: $0.baseAddress!) }
                }
                lossSum += LogisticModel.gradient(batch: batch, keys: keys, weights: weights, into: &gradient) * Double(batch.count)
                for index in gradient.indices { gradient[index] *= Float(batch.count) }
                keys.keys.withUnsafeBytes { keyBytes in
                    gradient.withUnsafeBytes {
                        store.push(keys: keyBytes.baseAddress!, count: keys.count, values: $0.baseAddress!, updater: updater)
                    }
                }
            }
        }
        let snapshot = store.snapshot(of: keySpace)
        let model = TrainedModel(encoding: encoding, weights: zip(snapshot.keys, snapshot.values).map { (key: $0, weight: $1) })
        return (model, lossSum / Double(examples.count))
    }

    @Test("zps run with one worker and sequential consistency saves the local run's model byte for byte")
    func clusterModelEqualsLocalModel() async throws {
        let directory = try ClusterSupport.temporaryDirectory("sparse-lr-sequential")
        defer { try? FileManager.default.removeItem(at: directory) }
        let train = directory.appendingPathComponent("train.tsv").path
        let modelPath = directory.appendingPathComponent("model.txt").path
        var generator = SyntheticCTRGenerator(seed: 42)
        try generator.write(rows: 1200, to: train)

        let topology = try Self.topology(in: directory, train: train, model: modelPath)
        let summary = try await SparseLRClusterTests.train(topology, in: directory)
        #expect(summary["succeeded"] as? Bool == true)
        #expect(summary["examples"] as? Int == Self.epochs * 1200)
        let saved = try #require(FileManager.default.contents(atPath: modelPath))

        let encoding = FeatureEncoding(format: .criteo, hashBits: Self.hashBits)
        let (local, localLoss) = try Self.localModel(encoding: encoding, train: train)
        // Not a trivial model: L1 kept some weights at 0 and not all of them.
        #expect(local.keys.count > 500 && local.keys.count < (1 << Self.hashBits))
        #expect(saved == Data(local.fileText().utf8), "the saved model differs from the local run's")
        if saved != Data(local.fileText().utf8), let clusterModel = try? TrainedModel.read(from: modelPath) {
            let differing = local.keys.filter { local.weight(forKey: $0) != clusterModel.weight(forKey: $0) }
            Issue.record("\(differing.count) of \(local.keys.count) weights differ (cluster holds \(clusterModel.keys.count)), first keys \(differing.prefix(5))")
        }
        // The worker's training loss of the last epoch is the local one, up to the JSON round trip.
        let workerLoss = (summary["worker_results"] as? [[String: Any]])?.first?["train_logloss"] as? Double
        #expect(abs((workerLoss ?? .nan) - localLoss) <= 1e-12 * localLoss)
    }
}
