import Foundation
import ParameterServer
import SparseLR
import Testing

/// A sequential sparse-LR job with one worker leaves the cluster no freedom: the server applies the
/// worker's pushes one after another, in order. With `replication: 1` the replica of a range holds the
/// primary's FTRL weights and its z and n, so a server killed with SIGKILL in the middle of training
/// must change nothing: the model `zps run` saves is byte-identical to the fault-free run's
/// (docs/FAULT-TOLERANCE.md, "Exactly once" and "Copies agree").
@Suite("Fail-over of a sequential sparse-LR job", .serialized)
struct FailoverSparseLRTests {
    static let hashBits = 14
    static let rows = 9000
    static let epochs = 2
    static let minibatch = 20

    /// Three servers with `replication` (1 by default), one worker, sequential FTRL, the short
    /// heartbeats of the fail-over tests, saving the model to `model`.
    static func topology(in directory: URL, train: String, model: String, replication: Int = 1) throws -> String {
        let yaml = """
            name: failover-sparse-lr
            manager: { host: 127.0.0.1, port: 0 }
            servers: { count: 3, host: 127.0.0.1, port: 0 }
            workers: { count: 1, host: 127.0.0.1, port: 0 }
            key_space: \((1 << hashBits) + 1)
            replication: \(replication)
            tables:
              - { name: weights, value_length: 1, updater: ftrl, updater_options: { alpha: 0.1, beta: 1, l1: 0.5, l2: 2 }, consistency: sequential }
            deadlines:

            """ + FailoverClusterTests.deadlineLines.replacingOccurrences(of: "request: 30000ms", with: "request: 10000ms") + """
            application:
              kind: sparse_lr
              format: criteo
              hash_bits: \(hashBits)
              train: \(train)
              epochs: \(epochs)
              minibatch: \(minibatch)
              save_model: \(model)

            """
        let path = directory.appendingPathComponent("topology-\(replication).yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// One `zps run` of `topology`; with a victim, that server is killed `delay` after the job's five
    /// processes run. Returns the saved model and what `zps run` said, or throws if the run failed.
    static func run(
        _ topology: String, in directory: URL, model: String, kill victim: String? = nil, after delay: Duration = .zero
    ) async throws -> (model: Data, log: String, training: Duration, killedPid: Int32?) {
        try? FileManager.default.removeItem(atPath: model)
        let run = try NodeProcess("run-\(victim ?? "fault-free")", arguments: ["run", topology], directory: directory)
        defer { run.kill() }
        let (started, killedPid) = try await ClusterSupport.kill(victim, of: run, processes: 5, after: delay)
        let status = try await run.waitForExit(within: .seconds(300))
        let training = ContinuousClock.now - started
        let log = run.errors + run.output
        guard status == 0, let saved = FileManager.default.contents(atPath: model) else {
            throw ClusterTestError("zps run (\(victim.map { "\($0) killed after \(delay)" } ?? "fault-free")) exited with \(String(describing: status)):\n\(log.suffix(3000))")
        }
        return (saved, log, training, killedPid)
    }

    @Test("kill -9 of one of 3 servers mid-training: the saved model is byte-identical to the fault-free run's")
    func modelSurvivesAKilledServer() async throws {
        let directory = try ClusterSupport.temporaryDirectory("failover-sparse-lr")
        defer { try? FileManager.default.removeItem(at: directory) }
        let train = directory.appendingPathComponent("train.tsv").path
        let modelPath = directory.appendingPathComponent("model.txt").path
        var generator = SyntheticCTRGenerator(seed: 7)
        try generator.write(rows: Self.rows, to: train)
        let topology = try Self.topology(in: directory, train: train, model: modelPath)

        let reference = try await Self.run(topology, in: directory, model: modelPath)
        let referenceModel = try TrainedModel.read(from: modelPath)
        // Not a trivial model: L1 kept some weights at 0 and not all of them.
        #expect(referenceModel.keys.count > 500 && referenceModel.keys.count < (1 << Self.hashBits))
        // The kills must land while the worker trains, whatever this machine's speed.
        let window = reference.training
        #expect(window >= .seconds(2), "the fault-free job took only \(window); the kills would land at its end")

        for seed in [1, 2, 3] as [UInt64] {
            var random = SplitMix64(seed: seed)
            let victim = "server-\(random.next() % 3)"
            // Between 10% and 60% of the fault-free run's time: training, not saving.
            let delay = window * (0.1 + Double(random.next() % 1000) / 2000)
            let label = "seed \(seed), \(victim) killed \(delay) after the start (the fault-free job took \(window))"
            let failed = try await Self.run(topology, in: directory, model: modelPath, kill: victim, after: delay)
            let pid = failed.killedPid ?? 0
            #expect(failed.log.contains("\(victim) (pid \(pid)) was killed by signal 9 (SIGKILL); replication 1 covers it"), "\(label): \(failed.log.suffix(2000))")
            #expect(failed.log.contains("recovered: \(victim) lost after "), "\(label): \(failed.log.suffix(2000))")
            #expect(failed.model == reference.model, "\(label): the saved model differs from the fault-free run's")
            if failed.model != reference.model, let model = try? TrainedModel.read(from: modelPath) {
                let keys = Set(referenceModel.keys).union(model.keys).sorted()
                let differing = keys.filter { referenceModel.weight(forKey: $0) != model.weight(forKey: $0) }
                Issue.record("\(label): \(differing.count) of \(keys.count) weights differ, first \(differing.prefix(5).map { "\($0): \(referenceModel.weight(forKey: $0)) vs \(model.weight(forKey: $0))" })")
            }
        }

        // With replication 2, server-1 is the middle of server-0's chain: server-0 sends what server-1
        // did not acknowledge to server-2, which holds it until it has the node table that makes
        // server-0 its predecessor.
        let chained = try Self.topology(in: directory, train: train, model: modelPath, replication: 2)
        for moment in [0.2, 0.45] {
            let run = try await Self.run(chained, in: directory, model: modelPath, kill: "server-1", after: window * moment)
            #expect(run.log.contains("recovered: server-1 lost after "), "\(run.log.suffix(2000))")
            #expect(run.model == reference.model, "replication 2, server-1 killed at \(moment) of the run: the saved model differs from the fault-free run's")
        }
    }
}
