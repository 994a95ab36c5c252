import ParameterServer
import Synchronization
import Testing
@testable import SparseLR

/// A parameter server in memory that applies FTRL exactly as the servers do, and holds every push back
/// until the trainer waits for it: the laziest server the consistency rules allow, so each pull sees
/// only the pushes the trainer's pipeline guarantees.
final class LaggingParameterServer: ParameterClient {
    struct State {
        var weights: [UInt64: Float] = [:]
        var z: [UInt64: Float] = [:]
        var n: [UInt64: Float] = [:]
        var queued: [(timestamp: Timestamp, keys: [UInt64], gradient: [Float])] = []
        var clock: Int64 = 0
        var applied = 0
        /// Each pull's keys and how many pushes had been applied when it ran.
        var pulls: [(keys: [UInt64], applied: Int)] = []
    }

    let alpha: Float, beta: Float, l1: Float, l2: Float
    let state = Mutex(State())

    init(alpha: Float, beta: Float, l1: Float, l2: Float) {
        (self.alpha, self.beta, self.l1, self.l2) = (alpha, beta, l1, l2)
    }

    func push(table: UInt32, keys: [UInt64], values: [Float], updater: String?) async throws -> Timestamp {
        state.withLock { state in
            state.clock += 1
            state.queued.append((Timestamp(state.clock), keys, values))
            return Timestamp(state.clock)
        }
    }

    func pull(table: UInt32, keys: [UInt64]) async throws -> [Float] {
        state.withLock { state in
            state.clock += 1
            state.pulls.append((keys, state.applied))
            return keys.map { state.weights[$0] ?? 0 }
        }
    }

    func wait(_ timestamp: Timestamp) async throws { apply(upTo: timestamp) }

    func waitForAll() async throws { apply(upTo: Timestamp(.max)) }

    private func apply(upTo timestamp: Timestamp) {
        state.withLock { state in
            while let first = state.queued.first, first.timestamp <= timestamp {
                state.queued.removeFirst()
                for (key, g) in zip(first.keys, first.gradient) {
                    var (weight, z, n) = (state.weights[key] ?? 0, state.z[key] ?? 0, state.n[key] ?? 0)
                    UpdateRules.ftrl(weight: &weight, z: &z, n: &n, gradient: g, alpha: alpha, beta: beta, l1: l1, l2: l2)
                    (state.weights[key], state.z[key], state.n[key]) = (weight, z, n)
                }
                state.applied += 1
            }
        }
    }
}

@Suite struct ClusterTrainerTests {
    static let hasher = FeatureHasher(bits: 16)

    static func examples(rows: Int, seed: UInt64) throws -> ExampleBatch {
        var generator = SyntheticCTRGenerator(seed: seed)
        let text = generator.generate(rows: rows).text
        return try ExampleReader(
            bytes: text, name: "synthetic.tsv", format: CriteoFormat(hasher: hasher),
            options: ReaderOptions(biasKey: hasher.biasKey)).readAll()
    }

    /// Hands out `examples` in consecutive batches of `size`.
    final class Batches {
        let examples: ExampleBatch
        let size: Int
        var position = 0
        init(_ examples: ExampleBatch, size: Int) { (self.examples, self.size) = (examples, size) }
        func next() -> ExampleBatch? {
            guard position < examples.count else { return nil }
            defer { position = min(position + size, examples.count) }
            return examples.examples(in: position..<min(position + size, examples.count))
        }
    }

    @Test("depth 0 with mean gradients reproduces the local trainer bit for bit")
    func sequentialMatchesLocalTrainer() async throws {
        let examples = try Self.examples(rows: 600, seed: 7)
        let server = LaggingParameterServer(alpha: 0.05, beta: 1, l1: 1, l2: 1)
        let trainer = ClusterTrainer(table: 0, pipelineDepth: 0, gradientScale: .mean)
        let batches = Batches(examples, size: 8)
        let pass = try await trainer.train(client: server, nextBatch: batches.next)
        var local = LocalTrainer(optimizer: .ftrl(alpha: 0.05, beta: 1, l1: 1, l2: 1), dimension: Self.hasher.dimension)
        let localLoss = local.train(on: examples, batchSize: 8, epochs: 1)
        #expect(pass.examples == 600)
        #expect(pass.batches == 75)
        #expect(abs(pass.meanLoss - localLoss) < 1e-12)
        let weights = server.state.withLock { $0.weights }
        #expect(weights.count > 100)
        for (key, weight) in weights { #expect(weight == local.weight(forKey: key)) }
        // Every pull saw every earlier push.
        #expect(server.state.withLock { $0.pulls.map(\.applied) } == Array(0..<75))
    }

    @Test("depth τ: a pull misses at most τ earlier pushes", arguments: [1, 3])
    func pipelineHonoursTheDelayBound(depth: Int) async throws {
        let examples = try Self.examples(rows: 200, seed: 3)
        let batchKeys = (0..<20).map { examples.examples(in: $0 * 10..<($0 + 1) * 10).uniqueKeys().keys }
        let index = Dictionary(uniqueKeysWithValues: batchKeys.enumerated().map { ($1, $0) })
        #expect(index.count == 20)
        let server = LaggingParameterServer(alpha: 0.1, beta: 1, l1: 0, l2: 0)
        let trainer = ClusterTrainer(table: 0, pipelineDepth: depth, gradientScale: .sum)
        let pass = try await trainer.train(client: server, nextBatch: Batches(examples, size: 10).next)
        #expect(pass.batches == 20)
        let pulls = server.state.withLock { $0.pulls }
        #expect(Set(pulls.compactMap { index[$0.keys] }) == Set(0..<20))
        // The lazy server applies a push only when the trainer waits for it.
        for pull in pulls {
            let batch = index[pull.keys] ?? 0
            #expect(pull.applied >= batch - depth, "batch \(batch) pulled after only \(pull.applied) pushes")
        }
        #expect(server.state.withLock { $0.applied } == 20)
    }

    @Test("sum scaling pushes the batch-size multiple of the mean gradient")
    func sumScaling() async throws {
        let examples = try Self.examples(rows: 40, seed: 5)
        let server = LaggingParameterServer(alpha: 1, beta: 1, l1: 0, l2: 0)
        let trainer = ClusterTrainer(table: 0, pipelineDepth: 0, gradientScale: .sum)
        _ = try await trainer.train(client: server, nextBatch: Batches(examples, size: 40).next)
        // One step from zero weights: every probability is 0.5, so the bias gradient sums (0.5 − y).
        let expected = Float(examples.count) * 0.5 - Float(examples.positiveCount)
        let n = server.state.withLock { $0.n[Self.hasher.biasKey] }
        #expect(abs(n! - expected * expected) <= 1e-3 * expected * expected)
    }

    @Test("evaluation and weight export read the servers' weights")
    func evaluateAndExport() async throws {
        let examples = try Self.examples(rows: 400, seed: 11)
        let server = LaggingParameterServer(alpha: 0.1, beta: 1, l1: 0.5, l2: 0)
        let trainer = ClusterTrainer(table: 0, pipelineDepth: 2)
        _ = try await trainer.train(client: server, nextBatch: Batches(examples, size: 20).next)
        let metrics = try await trainer.evaluate(client: server, examples: examples, chunk: 64)
        let exported = try await trainer.pullWeights(client: server, keyBound: UInt64(Self.hasher.dimension), chunk: 5000)
        let model = TrainedModel(encoding: FeatureEncoding(format: .criteo, hashBits: 16), weights: exported)
        var offline = BinaryClassificationMetrics()
        offline.add(predictions: model.predict(examples), labels: examples.labels)
        #expect(metrics.count == 400)
        #expect(metrics.auc == offline.auc)
        #expect(metrics.logLoss == offline.logLoss)
        #expect(exported.count == server.state.withLock { $0.weights.values.filter { $0 != 0 }.count })
    }
}
