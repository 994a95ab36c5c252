import Foundation
import SparseLR
import Testing

/// Sparse logistic regression trained by real `zps run` clusters (manager, 2 servers, 2 workers as
/// processes on loopback); the assertions read the run's `--json` summary.
@Suite("Sparse LR on the cluster", .serialized)
struct SparseLRClusterTests {
    /// A 2-server, 2-worker topology training table `weights` with FTRL.
    static func topology(
        in directory: URL, ftrl: String, keySpace: Int = 1_048_577, application: String
    ) throws -> String {
        let yaml = """
            name: sparse-lr-test
            manager: { host: 127.0.0.1, port: 0 }
            servers: { count: 2, host: 127.0.0.1, port: 0 }
            workers: { count: 2, host: 127.0.0.1, port: 0 }
            key_space: \(keySpace)
            tables:
              - { name: weights, value_length: 1, updater: ftrl, updater_options: { \(ftrl) }, consistency: eventual }
            deadlines: { startup: 60s, barrier: 300s }
            application:
              kind: sparse_lr

            """ + application.split(separator: "\n").map { "  \($0)\n" }.joined()
        let path = directory.appendingPathComponent("topology.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Runs `zps ARGUMENTS` to its end and returns its exit status.
    static func zps(_ name: String, _ arguments: [String], in directory: URL) async throws -> (NodeProcess, Int32) {
        let process = try NodeProcess(name, arguments: arguments, directory: directory)
        defer { process.kill() }
        guard let status = try await process.waitForExit(within: .seconds(600)) else {
            throw ClusterTestError("zps \(arguments.joined(separator: " ")) did not finish; stderr:\n\(process.errors.suffix(2000))")
        }
        return (process, status)
    }

    /// Runs the topology and returns its JSON summary.
    static func train(_ topology: String, in directory: URL) async throws -> [String: Any] {
        let json = directory.appendingPathComponent("summary.json").path
        let (process, status) = try await zps("run", ["run", topology, "--json", json], in: directory)
        guard status == 0, let data = FileManager.default.contents(atPath: json),
              let summary = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        else {
            throw ClusterTestError("zps run exited with \(status); stderr:\n\(process.errors.suffix(3000))")
        }
        return summary
    }

    static func metric(_ summary: [String: Any], _ section: String, _ name: String) -> Double {
        (summary[section] as? [String: Any])?[name] as? Double ?? .nan
    }

    @Test("generated data: the cluster learns close to the true model, and zps predict scores the saved model the same")
    func syntheticDefaultJob() async throws {
        let directory = try ClusterSupport.temporaryDirectory("sparse-lr-synthetic")
        let train = directory.appendingPathComponent("train.tsv").path
        let test = directory.appendingPathComponent("test.tsv").path
        let model = directory.appendingPathComponent("model.txt").path
        let (_, generated) = try await Self.zps(
            "generate", ["generate", "--rows", "30000", "--test-rows", "5000", "--seed", "1", "--train", train, "--test", test],
            in: directory)
        #expect(generated == 0)
        let topology = try Self.topology(
            in: directory, ftrl: "alpha: 0.05, beta: 1, l1: 1, l2: 1",
            application: """
                format: criteo
                train: \(train)
                test: \(test)
                test_probabilities: \(test).probabilities
                epochs: 2
                minibatch: 20
                save_model: \(model)
                """)
        let summary = try await Self.train(topology, in: directory)
        #expect(summary["succeeded"] as? Bool == true)
        #expect(summary["examples"] as? Int == 60_000)
        #expect((summary["worker_results"] as? [Any])?.count == 2)
        #expect((summary["epochs"] as? [Any])?.count == 2)
        #expect((summary["examples_per_second"] as? Double ?? 0) > 0)
        let auc = Self.metric(summary, "test", "auc")
        let trueAUC = Self.metric(summary, "true_model", "auc")
        #expect((summary["test"] as? [String: Any])?["examples"] as? Int == 5000)
        #expect(trueAUC > 0.75)
        #expect(auc > 0.75)
        #expect(auc > trueAUC - 0.05)
        #expect(Self.metric(summary, "test", "logloss") < Self.metric(summary, "true_model", "logloss") + 0.05)

        let predictions = directory.appendingPathComponent("predictions.txt").path
        let (_, predicted) = try await Self.zps("predict", ["predict", model, test, "--output", predictions], in: directory)
        #expect(predicted == 0)
        let scores = try String(contentsOfFile: predictions, encoding: .utf8).split(separator: "\n").compactMap { Float($0) }
        #expect(scores.count == 5000)
        let labels = try FeatureEncoding(format: .criteo).readAll(path: test, selection: .all).labels
        var offline = BinaryClassificationMetrics()
        offline.add(predictions: scores, labels: labels)
        #expect(abs((offline.auc ?? 0) - auc) < 1e-9)
    }

    @Test("Criteo 10k, rows 1-8000 / 8001-10000: AUC >= 0.74, logloss <= 0.47",
          RealData.required(RealData.criteo))
    func criteo() async throws {
        let directory = try ClusterSupport.temporaryDirectory("sparse-lr-criteo")
        let topology = try Self.topology(
            in: directory, ftrl: "alpha: 0.05, beta: 1, l1: 1, l2: 1",
            application: """
                format: criteo
                train: \(RealData.criteo)
                train_rows: 1-8000
                test_rows: 8001-10000
                epochs: 3
                minibatch: 20
                """)
        let summary = try await Self.train(topology, in: directory)
        #expect(summary["examples"] as? Int == 24_000)
        #expect((summary["test"] as? [String: Any])?["examples"] as? Int == 2000)
        #expect(Self.metric(summary, "test", "auc") >= 0.74)
        #expect(Self.metric(summary, "test", "logloss") <= 0.47)
    }

    @Test("Avazu 10k, rows 1-8000 / rest: AUC >= 0.72",
          RealData.required(RealData.avazu))
    func avazu() async throws {
        let directory = try ClusterSupport.temporaryDirectory("sparse-lr-avazu")
        let topology = try Self.topology(
            in: directory, ftrl: "alpha: 0.1, beta: 1, l1: 0.3, l2: 1",
            application: """
                format: avazu
                train: \(RealData.avazu)
                train_rows: 1-8000
                test_rows: 8001-
                epochs: 10
                minibatch: 20
                """)
        let summary = try await Self.train(topology, in: directory)
        #expect((summary["test"] as? [String: Any])?["examples"] as? Int == 1999)
        #expect(Self.metric(summary, "test", "auc") >= 0.72)
    }

    @Test("w8a, test = rows i % 5 == 4, shuffled shards: AUC >= 0.95",
          RealData.required(RealData.w8a))
    func w8a() async throws {
        let directory = try ClusterSupport.temporaryDirectory("sparse-lr-w8a")
        let topology = try Self.topology(
            in: directory, ftrl: "alpha: 0.1, beta: 1, l1: 0.1, l2: 0", keySpace: 512,
            application: """
                format: libsvm
                train: \(RealData.w8a)
                holdout: 5
                shuffle: true
                seed: 1
                epochs: 5
                minibatch: 10
                """)
        let summary = try await Self.train(topology, in: directory)
        #expect(summary["examples"] as? Int == 5 * (49_749 - 9949))
        #expect((summary["test"] as? [String: Any])?["examples"] as? Int == 9949)
        #expect(Self.metric(summary, "test", "auc") >= 0.95)
    }
}
