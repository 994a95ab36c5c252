import ParameterServer
import Synchronization
import Testing
@testable import SparseLR

/// A parameter server in memory that applies pushes with the parameter server's own updater on a
/// real ``RangeStore`` (not ``UpdateRules``, so the local trainer and the server code are compared),
/// and holds every push back until the trainer waits for it: the laziest server the consistency rules
/// allow, so each pull sees only the pushes the trainer's pipeline guarantees.
final class LaggingParameterServer: ParameterClient {
    struct State {
        /// The weights table, kept by the server's updater for `optimizer`.
        let store: RangeStore
        var queued: [(timestamp: Timestamp, keys: [UInt64], gradient: [Float], updater: String?)] = []
        var clock: Int64 = 0
        var applied = 0
        /// Each pull's keys and how many pushes had been applied when it ran.
        var pulls: [(keys: [UInt64], applied: Int)] = []
    }

    /// The table's updater, made by the registry from the optimizer's updater name and options.
    let updater: any Updater
    let state: Mutex<State>

    /// A server for keys below `keyBound` whose table updater implements `optimizer`.
    init(optimizer: Optimizer, keyBound: UInt64 = UInt64(ClusterTrainerTests.hasher.dimension)) throws {
        let updater = try UpdaterRegistry.builtIn.make(optimizer.updaterName, options: UpdaterOptions(optimizer.updaterOptions))
        self.updater = updater
        state = Mutex(State(store: RangeStore(range: KeyRange(0, keyBound), valueLength: 1, updater: updater)))
    }

    /// A server whose table is updated by `ftrl` with these options.
    convenience init(alpha: Float, beta: Float, l1: Float, l2: Float) throws {
        try self.init(optimizer: .ftrl(alpha: alpha, beta: beta, l1: l1, l2: l2))
    }

    func push(table: UInt32, keys: [UInt64], values: [Float], updater: String?) async throws -> Timestamp {
        state.withLock { state in
            state.clock += 1
            state.queued.append((Timestamp(state.clock), keys, values, updater))
            return Timestamp(state.clock)
        }
    }

    func pull(table: UInt32, keys: [UInt64]) async throws -> [Float] {
        state.withLock { state in
            state.clock += 1
            state.pulls.append((keys, state.applied))
            var weights = [Float](repeating: .nan, count: keys.count)
            keys.withUnsafeBytes { keyBytes in
                weights.withUnsafeMutableBytes { output in
                    state.store.pull(keys: keyBytes.baseAddress!, count: keys.count, into: output.baseAddress!)
                }
            }
            return weights
        }
    }

    func wait(_ timestamp: Timestamp) async throws { try apply(upTo: timestamp) }

    func waitForAll() async throws { try apply(upTo: Timestamp(.max)) }

    /// The weight of every key, in key order (0 for keys never trained).
    var weights: [(key: UInt64, weight: Float)] {
        state.withLock { state in
            let snapshot = state.store.snapshot(of: .all)
            return Array(zip(snapshot.keys, snapshot.values)).map { (key: $0, weight: $1) }
        }
    }

    private func apply(upTo timestamp: Timestamp) throws {
        try state.withLock { state in
            while let first = state.queued.first, first.timestamp <= timestamp {
                state.queued.removeFirst()
                let updater = try first.updater.map { try UpdaterRegistry.builtIn.make($0) } ?? self.updater
                try state.store.check(updater: updater)
                first.keys.withUnsafeBytes { keys in
                    first.gradient.withUnsafeBytes { gradient in
                        state.store.push(keys: keys.baseAddress!, count: first.keys.count, values: gradient.baseAddress!, updater: updater)
                    }
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

    @Test("depth 0 with mean gradients on the server's updater reproduces the local trainer bit for bit", arguments: [
        Optimizer.ftrl(alpha: 0.05, beta: 1, l1: 1, l2: 1), .adaGrad(learningRate: 0.2, epsilon: 0.01, l2: 0.5),
        .sgd(learningRate: 0.5, l2: 0.25),
    ])
    func sequentialMatchesLocalTrainer(optimizer: Optimizer) async throws {
        try await sequentialMatchesLocalTrainer(optimizer: optimizer, keyBound: nil)
    }

    @Test("with the hashed key space's bound, batches indexed by a bitmap train the same model bit for bit")
    func denseKeyIndexMatchesLocalTrainer() async throws {
        // 8 examples of 40 features against 1,025 bitmap words: the indexer's bitmap, not its sort.
        #expect(8 * 40 * DenseKeyIndexer.sortBelowWordsPerKey >= (Self.hasher.dimension + 63) / 64)
        try await sequentialMatchesLocalTrainer(
            optimizer: .ftrl(alpha: 0.05, beta: 1, l1: 1, l2: 1), keyBound: UInt64(Self.hasher.dimension))
    }

    func sequentialMatchesLocalTrainer(optimizer: Optimizer, keyBound: UInt64?) async throws {
        let examples = try Self.examples(rows: 600, seed: 7)
        let server = try LaggingParameterServer(optimizer: optimizer)
        let trainer = ClusterTrainer(table: 0, pipelineDepth: 0, gradientScale: .mean, keyBound: keyBound)
        let batches = Batches(examples, size: 8)
        let pass = try await trainer.train(client: server, nextBatch: batches.next)
        var local = LocalTrainer(optimizer: optimizer, dimension: Self.hasher.dimension)
        let localLoss = local.train(on: examples, batchSize: 8, epochs: 1)
        #expect(pass.examples == 600)
        #expect(pass.batches == 75)
        #expect(abs(pass.meanLoss - localLoss) < 1e-12)
        let weights = server.weights
        #expect(weights.count == Self.hasher.dimension)
        #expect(weights.filter { $0.weight != 0 }.count > 50)
        #expect(weights.filter { $0.weight != local.weight(forKey: $0.key) }.map(\.key) == [])
        // Every pull saw every earlier push.
        #expect(server.state.withLock { $0.pulls.map(\.applied) } == Array(0..<75))
    }

    @Test("depth τ: a pull misses at most τ earlier pushes", arguments: [1, 3])
    func pipelineHonoursTheDelayBound(depth: Int) async throws {
        let examples = try Self.examples(rows: 200, seed: 3)
        let batchKeys = (0..<20).map { examples.examples(in: $0 * 10..<($0 + 1) * 10).uniqueKeys().keys }
        let index = Dictionary(uniqueKeysWithValues: batchKeys.enumerated().map { ($1, $0) })
        #expect(index.count == 20)
        let server = try LaggingParameterServer(alpha: 0.1, beta: 1, l1: 0, l2: 0)
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
        let server = try LaggingParameterServer(alpha: 1, beta: 1, l1: 0, l2: 0)
        let trainer = ClusterTrainer(table: 0, pipelineDepth: 0, gradientScale: .sum)
        _ = try await trainer.train(client: server, nextBatch: Batches(examples, size: 40).next)
        // One step from zero weights: every probability is 0.5, so the bias gradient sums to
        // g = (0.5 − y) over the batch; FTRL with α = β = 1 and no L1/L2 then sets w = −g / (1 + |g|).
        let g = Float(examples.count) * 0.5 - Float(examples.positiveCount)
        let weight = try #require(server.weights.first { $0.key == Self.hasher.biasKey }).weight
        #expect(abs(weight - -g / (1 + abs(g))) <= 1e-5 * abs(weight))
    }

    @Test("evaluation and weight export read the servers' weights")
    func evaluateAndExport() async throws {
        let examples = try Self.examples(rows: 400, seed: 11)
        let server = try LaggingParameterServer(alpha: 0.1, beta: 1, l1: 0.5, l2: 0)
        let trainer = ClusterTrainer(table: 0, pipelineDepth: 2)
        _ = try await trainer.train(client: server, nextBatch: Batches(examples, size: 20).next)
        let metrics = try await trainer.evaluate(client: server, examples: examples, chunk: 64)
        // Scored with the key space's bound, chunks are indexed by the bitmap: the same figures.
        let dense = ClusterTrainer(table: 0, pipelineDepth: 2, keyBound: UInt64(Self.hasher.dimension))
        let denseMetrics = try await dense.evaluate(client: server, examples: examples, chunk: 64)
        #expect(denseMetrics.auc == metrics.auc)
        #expect(denseMetrics.logLoss == metrics.logLoss)
        let exported = try await trainer.pullWeights(client: server, keyBound: UInt64(Self.hasher.dimension), chunk: 5000)
        let model = TrainedModel(encoding: FeatureEncoding(format: .criteo, hashBits: 16), weights: exported)
        var offline = BinaryClassificationMetrics()
        offline.add(predictions: model.predict(examples), labels: examples.labels)
        #expect(metrics.count == 400)
        #expect(metrics.auc == offline.auc)
        #expect(metrics.logLoss == offline.logLoss)
        #expect(exported.map(\.key) == server.weights.filter { $0.weight != 0 }.map(\.key))
    }
}
