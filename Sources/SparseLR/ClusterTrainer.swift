import ParameterServer

/// Trains a logistic model whose weights live on parameter servers: per minibatch, pull the weights of
/// the batch's sorted unique keys, compute the log-loss gradient with ``LogisticModel``, and push it;
/// the servers' updater (`sgd`, `adagrad`, `ftrl`) turns gradients into weights, as ``UpdateRules``
/// does locally.
///
/// Minibatches are pipelined: up to ``pipelineDepth`` batches have their pulls in flight while earlier
/// gradients are pushed, and before a pull is issued the trainer waits until the batches prefetched
/// but not yet pushed plus the pushes not yet applied number at most ``pipelineDepth``. So a pull
/// misses at most ``pipelineDepth`` of this worker's own earlier pushes (the delay bound τ of the
/// bounded-delay model), and depth 0 is sequential: every pull sees every earlier push of this
/// worker, and one worker reproduces ``LocalTrainer`` exactly.
///
/// With a ``keyBound`` (hashed features), each batch's key list is built by a ``DenseKeyIndexer``
/// instead of a sort; the lists are the same.
public struct ClusterTrainer: Sendable {
    /// How a batch's per-example gradients are combined before they are pushed.
    public enum GradientScale: String, Sendable, Hashable, CaseIterable {
        /// The sum: a key's update does not shrink as the batch grows, so small and large batches
        /// learn at a similar speed per example (sparse keys appear in few examples of a batch).
        case sum
        /// The mean, as ``LocalTrainer`` uses.
        case mean
    }

    /// What one pass over a stream of batches did.
    public struct Pass: Sendable, Hashable {
        /// The examples trained on.
        public var examples = 0
        /// The minibatches pushed.
        public var batches = 0
        /// The sum over examples of the log-loss before each example's step.
        public var lossSum: Double = 0

        /// Nothing trained yet.
        public init() {}

        /// The mean training log-loss (0 with no examples).
        public var meanLoss: Double { examples == 0 ? 0 : lossSum / Double(examples) }
    }

    /// The id of the weights table (one float per key).
    public var table: UInt32
    /// How many of this worker's earlier pushes a pull may miss (pulls in flight plus unfinished pushes).
    public var pipelineDepth: Int
    /// How gradients are combined within a batch.
    public var gradientScale: GradientScale
    /// When every feature key is below this bound, the bound (`FeatureEncoding.keyBound`); nil when
    /// keys are unbounded.
    public var keyBound: UInt64?

    /// Creates a trainer for the weights in `table`.
    public init(table: UInt32, pipelineDepth: Int = 2, gradientScale: GradientScale = .sum, keyBound: UInt64? = nil) {
        precondition(pipelineDepth >= 0, "pipelineDepth must not be negative")
        self.table = table
        self.pipelineDepth = pipelineDepth
        self.gradientScale = gradientScale
        self.keyBound = keyBound
    }

    /// Trains on every batch `nextBatch` returns until it returns nil, calling `progress` after each
    /// push with the pass so far; returns when every push has been applied. With a `cache`, each
    /// batch and its key index are recorded there, for ``train(client:replaying:progress:)``.
    public func train(
        client: some ParameterClient, nextBatch: () throws -> ExampleBatch?, recordingInto cache: MinibatchCache? = nil,
        progress: (Pass) -> Void = { _ in }
    ) async throws -> Pass {
        let indexer = makeIndexer()
        return try await train(client: client, progress: progress) {
            while let batch = try nextBatch() {
                guard !batch.isEmpty else { continue }
                let keys = Self.keys(of: batch, indexer: indexer)
                cache?.record(batch, keys: keys)
                return (batch, keys)
            }
            return nil
        }
    }

    /// Trains on the batches `cache` recorded, in their order, exactly as on the pass that recorded
    /// them; `cache` must be replayable.
    public func train(
        client: some ParameterClient, replaying cache: MinibatchCache, progress: (Pass) -> Void = { _ in }
    ) async throws -> Pass {
        precondition(cache.isReplayable, "a minibatch cache replays only a whole recorded pass")
        var position = 0
        return try await train(client: client, progress: progress) {
            guard position < cache.entries.count else { return nil }
            defer { position += 1 }
            return (cache.entries[position].batch, cache.entries[position].keys)
        }
    }

    private func train(
        client: some ParameterClient, progress: (Pass) -> Void, nextIndexed: () throws -> (ExampleBatch, BatchKeys)?
    ) async throws -> Pass {
        var pass = Pass()
        var prefetched: [(batch: ExampleBatch, keys: BatchKeys, weights: Task<[Float], any Error>)] = []
        var unfinished: [Timestamp] = []
        var gradient: [Float] = []
        var exhausted = false
        defer { for entry in prefetched { entry.weights.cancel() } }
        while true {
            while !exhausted, prefetched.count < max(pipelineDepth, 1) {
                guard let (batch, keys) = try nextIndexed() else {
                    exhausted = true
                    break
                }
                // This pull misses the pushes of the batches already prefetched and the unfinished ones.
                while !unfinished.isEmpty, unfinished.count + prefetched.count > pipelineDepth {
                    try await client.wait(unfinished.removeFirst())
                }
                let (table, keyList) = (self.table, keys.keys)
                prefetched.append((batch, keys, Task { try await client.pull(table: table, keys: keyList) }))
            }
            guard !prefetched.isEmpty else { break }
            let (batch, keys, pull) = prefetched.removeFirst()
            let weights = try await pull.value
            let meanLoss = LogisticModel.gradient(batch: batch, keys: keys, weights: weights, into: &gradient)
            if gradientScale == .sum { Self.scale(&gradient, by: Float(batch.count)) }
            unfinished.append(try await client.push(table: table, keys: keys.keys, values: gradient, updater: nil))
            pass.examples += batch.count
            pass.batches += 1
            pass.lossSum += meanLoss * Double(batch.count)
            progress(pass)
        }
        try await client.waitForAll()
        return pass
    }

    /// The click probability of every example of `batch`, with the weights the servers hold now.
    public func predict(client: some ParameterClient, batch: ExampleBatch) async throws -> [Float] {
        try await predict(client: client, batch: batch, indexer: nil)
    }

    private func predict(client: some ParameterClient, batch: ExampleBatch, indexer: DenseKeyIndexer?) async throws -> [Float] {
        guard !batch.isEmpty else { return [] }
        let keys = Self.keys(of: batch, indexer: indexer)
        let weights = try await client.pull(table: table, keys: keys.keys)
        return LogisticModel.predictions(batch: batch, keys: keys, weights: weights)
    }

    /// AUC, log-loss and accuracy of the servers' current weights on `examples`, scored `chunk` at a time.
    public func evaluate(
        client: some ParameterClient, examples: ExampleBatch, chunk: Int = 4096
    ) async throws -> BinaryClassificationMetrics {
        precondition(chunk > 0, "chunk must be positive")
        var metrics = BinaryClassificationMetrics()
        var start = 0
        let indexer = makeIndexer()
        while start < examples.count {
            let part = examples.examples(in: start..<min(start + chunk, examples.count))
            metrics.add(predictions: try await predict(client: client, batch: part, indexer: indexer), labels: part.labels)
            start += chunk
        }
        return metrics
    }

    /// The non-zero weights of the keys below `keyBound`, pulled `chunk` keys at a time, in key order.
    public func pullWeights(
        client: some ParameterClient, keyBound: UInt64, chunk: Int = 1 << 16
    ) async throws -> [(key: UInt64, weight: Float)] {
        precondition(chunk > 0, "chunk must be positive")
        var result: [(key: UInt64, weight: Float)] = []
        var start: UInt64 = 0
        while start < keyBound {
            let end = min(start + UInt64(chunk), keyBound)
            let keys = Array(start..<end)
            let weights = try await client.pull(table: table, keys: keys)
            for (key, weight) in zip(keys, weights) where weight != 0 { result.append((key, weight)) }
            start = end
        }
        return result
    }

    /// Key spaces up to this many keys are indexed densely: `hash_bits` up to 24 and the bias key
    /// (1.5 bits a key: 3 MiB at 2^24 keys).
    static let denseIndexLimit: UInt64 = (1 << 24) + 1

    private func makeIndexer() -> DenseKeyIndexer? {
        keyBound.flatMap { $0 <= Self.denseIndexLimit ? DenseKeyIndexer(keyBound: $0) : nil }
    }

    private static func keys(of batch: ExampleBatch, indexer: DenseKeyIndexer?) -> BatchKeys {
        indexer?.index(batch.featureKeys) ?? batch.uniqueKeys()
    }

    private static func scale(_ values: inout [Float], by factor: Float) {
        values.withUnsafeMutableBufferPointer { buffer in
            for index in buffer.indices { buffer[index] *= factor }
        }
    }
}
