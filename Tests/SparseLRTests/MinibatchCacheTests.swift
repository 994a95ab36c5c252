import ParameterServer
import Testing
@testable import SparseLR

/// Later epochs replayed from a ``MinibatchCache`` must train exactly as epochs that read and index
/// the batches again, and a cache whose pass outgrows its budget must keep nothing.
@Suite struct MinibatchCacheTests {
    /// Three epochs over `examples`, reading every epoch or replaying epochs 2 and 3 from a cache.
    static func train(_ examples: ExampleBatch, replay: Bool, keyBound: UInt64?) async throws -> (
        passes: [ClusterTrainer.Pass], weights: [(key: UInt64, weight: Float)], pulls: [[UInt64]]
    ) {
        let server = try LaggingParameterServer(alpha: 0.05, beta: 1, l1: 1, l2: 1)
        // Depth 0: every pull follows every earlier push, so two runs can be compared bit for bit.
        let trainer = ClusterTrainer(table: 0, pipelineDepth: 0, gradientScale: .sum, keyBound: keyBound)
        let cache = MinibatchCache(budget: 64 << 20)
        var passes: [ClusterTrainer.Pass] = []
        for epoch in 0..<3 {
            if replay, epoch > 0 {
                #expect(cache.isReplayable)
                passes.append(try await trainer.train(client: server, replaying: cache))
            } else {
                let batches = ClusterTrainerTests.Batches(examples, size: 25)
                passes.append(try await trainer.train(
                    client: server, nextBatch: batches.next, recordingInto: replay && epoch == 0 ? cache : nil))
            }
        }
        if replay { #expect(cache.count == 24 && cache.bytes > 0) }
        return (passes, server.weights, server.state.withLock { $0.pulls.map(\.keys) })
    }

    @Test("epochs replayed from the cache pull the same keys and train the same model, bit for bit, as epochs read again",
          arguments: [nil, UInt64(ClusterTrainerTests.hasher.dimension)])
    func replayEqualsRereading(keyBound: UInt64?) async throws {
        let examples = try ClusterTrainerTests.examples(rows: 600, seed: 11)
        let reread = try await Self.train(examples, replay: false, keyBound: keyBound)
        let replayed = try await Self.train(examples, replay: true, keyBound: keyBound)
        #expect(replayed.passes == reread.passes)
        #expect(replayed.passes.map(\.examples) == [600, 600, 600])
        #expect(replayed.pulls.count == 72)
        #expect(replayed.pulls == reread.pulls, "the pulls' key lists differ")
        #expect(reread.weights.filter { $0.weight != 0 }.count > 50)
        #expect(replayed.weights.map(\.key) == reread.weights.map(\.key))
        let differing = zip(replayed.weights, reread.weights).filter { $0.weight.bitPattern != $1.weight.bitPattern }
        #expect(differing.count == 0, "\(differing.count) weights differ")
    }

    @Test("a pass that outgrows the budget leaves nothing to replay, and nothing held")
    func overflowKeepsNothing() async throws {
        let examples = try ClusterTrainerTests.examples(rows: 200, seed: 3)
        let server = try LaggingParameterServer(alpha: 0.05, beta: 1, l1: 1, l2: 1)
        let trainer = ClusterTrainer(table: 0, pipelineDepth: 0)
        // One batch of 25 examples of 40 features takes more than 4 KiB (25 x 40 slots and values alone).
        let cache = MinibatchCache(budget: 4096 * 3)
        let pass = try await trainer.train(
            client: server, nextBatch: ClusterTrainerTests.Batches(examples, size: 25).next, recordingInto: cache)
        #expect(pass.batches == 8)
        #expect(cache.overflowed)
        #expect(!cache.isReplayable)
        #expect(cache.count == 0 && cache.bytes == 0)
        let fits = MinibatchCache(budget: 1 << 20)
        _ = try await trainer.train(
            client: server, nextBatch: ClusterTrainerTests.Batches(examples, size: 25).next, recordingInto: fits)
        #expect(!fits.overflowed && fits.count == 8 && fits.isReplayable)
    }
}
