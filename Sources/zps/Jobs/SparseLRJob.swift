import Foundation
import ParameterServer
import SparseLR

/// Sparse logistic regression on the cluster: each worker trains on its interleaved shard of the
/// training rows (data line `i` goes to worker `i % workers`), pushing minibatch gradients to the
/// servers, whose table updater (`ftrl`, `adagrad` or `sgd`) owns the optimizer state.
///
/// After every epoch the workers meet at a barrier and worker 0 evaluates the whole test set against
/// the servers' weights (AUC needs every score in one place, and a test set is small next to the
/// training data); the other workers go on training meanwhile. Worker 0 also scores the true model
/// when `test_probabilities` is given, and saves the model with `save_model`. Every worker reports
/// `@zps result {JSON}` to `zps run`, which merges them into the run's summary and `--json` file.
struct SparseLRJob: Sendable {
    let settings: SparseLRSettings
    let rank: Int
    let workers: Int

    init(topology: Topology, rank: Int) throws(TopologyError) {
        settings = try SparseLRSettings(topology: topology)
        self.rank = rank
        workers = topology.workers.count
    }

    func run(_ worker: Worker) async throws -> String {
        var progress = ProgressReporter(rank: rank)
        let trainer = ClusterTrainer(
            table: settings.table.id, pipelineDepth: settings.pipelineDepth, gradientScale: settings.gradientScale,
            keyBound: settings.encoding.keyBound)
        var selection = settings.train.selection
        selection.shard = Shard(rank, of: workers)
        let shard = SparseLRSettings.DataSource(path: settings.train.path, selection: selection)
        // Shuffling needs the shard in memory; otherwise every epoch streams the file again.
        var skipped = SkippedLines()
        let resident = settings.shuffle ? try readAll(shard, skipped: &skipped) : nil
        var skippedTest = SkippedLines()
        let evaluation = rank == 0 ? try settings.test.map { test in
            (test, try readAll(test, skipped: &skippedTest))
        } : nil
        if let (test, examples) = evaluation, examples.count == 0 {
            throw SparseLRJobError(description: "\(test.path): the test set holds no examples\(Self.rowsNote(test.selection))")
        }
        var trueModel: BinaryClassificationMetrics?
        if let (test, examples) = evaluation, let path = settings.testProbabilitiesPath {
            trueModel = try Self.trueModelMetrics(probabilitiesPath: path, selection: test.selection, labels: examples.labels)
        }

        var random = SplitMix64(seed: settings.seed ^ (UInt64(rank) &* 0x9E37_79B9_7F4A_7C15))
        // Until the first pass has counted the shard, progress goes by an estimate from the file's size.
        var examplesPerEpoch = resident?.count
        let estimatedExamples = examplesPerEpoch ?? Self.estimatedExamples(in: shard)
        var trainedExamples = 0
        var trainingSeconds = 0.0
        var lastLoss = 0.0
        var epochs: [[String: Any]] = []
        var lastMetrics: BinaryClassificationMetrics?
        // A streamed shard is read and indexed once; later epochs replay it from memory when it fits.
        let cache = resident == nil && settings.epochs > 1 && settings.minibatchCacheBytes > 0
            ? MinibatchCache(budget: settings.minibatchCacheBytes) : nil
        for epoch in 0..<settings.epochs {
            let epochStart = ContinuousClock.now
            let label = "epoch \(epoch + 1)/\(settings.epochs)"
            let report = { (pass: ClusterTrainer.Pass) in
                let seconds = trainingSeconds + Self.seconds(since: epochStart)
                let within = examplesPerEpoch.map { $0 > 0 ? min(Double(pass.examples) / Double($0), 1) : 1 }
                    ?? estimatedExamples.map { min(Double(pass.examples) / Double(max($0, 1)), 0.99) } ?? 0
                let rate = seconds > 0 ? Double(trainedExamples + pass.examples) / seconds : 0
                progress.report(
                    fraction: (Double(epoch) + within) / Double(settings.epochs),
                    "\(label) loss \(Self.format(pass.meanLoss)) \(Self.format(rate: rate)) ex/s")
            }
            let pass: ClusterTrainer.Pass
            var batches: TrainingBatches?
            if epoch > 0, let cache, cache.isReplayable {
                pass = try await trainer.train(client: worker, replaying: cache, progress: report)
            } else {
                let stream = try TrainingBatches(settings: settings, shard: shard, resident: resident, random: &random)
                batches = stream
                pass = try await trainer.train(
                    client: worker, nextBatch: stream.next, recordingInto: epoch == 0 ? cache : nil, progress: report)
            }
            let epochSeconds = Self.seconds(since: epochStart)
            trainingSeconds += epochSeconds
            if epoch == 0 {
                batches?.countSkippedLines(into: &skipped)
                guard pass.examples > 0 else {
                    throw SparseLRJobError(description: "\(shard.path): worker \(rank)'s shard of the training rows holds no examples\(Self.rowsNote(settings.train.selection)) (data line i goes to worker i % \(workers))")
                }
            }
            trainedExamples += pass.examples
            examplesPerEpoch = pass.examples
            lastLoss = pass.meanLoss
            var record: [String: Any] = [
                "epoch": epoch + 1, "examples": pass.examples, "train_logloss": pass.meanLoss, "seconds": epochSeconds,
            ]
            try await worker.barrier("epoch-\(epoch + 1)")
            if let (_, examples) = evaluation {
                let metrics = try await trainer.evaluate(client: worker, examples: examples)
                record["test"] = Self.json(metrics)
                lastMetrics = metrics
                progress.report(
                    fraction: Double(epoch + 1) / Double(settings.epochs),
                    "\(label) test AUC \(Self.format(metrics.auc)) logloss \(Self.format(metrics.logLoss))", force: true)
            }
            epochs.append(record)
        }
        if rank == 0, let path = settings.saveModelPath {
            try await saveModel(trainer: trainer, worker: worker, to: path)
        }

        let rate = trainingSeconds > 0 ? Double(trainedExamples) / trainingSeconds : 0
        var result: [String: Any] = [
            "rank": rank, "examples": trainedExamples, "training_seconds": trainingSeconds,
            "examples_per_second": rate, "train_logloss": lastLoss, "epochs": epochs, "skipped_lines": skipped.count,
        ]
        if let cache {
            result["minibatch_cache"] = ["bytes": cache.bytes, "overflowed": cache.overflowed, "budget": cache.budget]
        }
        if rank == 0, settings.test != nil { result["skipped_test_lines"] = skippedTest.count }
        if let first = skipped.first ?? skippedTest.first { result["first_skipped_line"] = first }
        // Every request of this worker, the evaluation pulls included; with filters on, per stage too.
        let traffic = try await worker.traffic()
        result["wire"] = [
            "requests": traffic.requests, "plain_bytes_sent": traffic.plainBytesSent, "bytes_sent": traffic.bytesSent,
            "bytes_received": traffic.bytesReceived, "pushed_keys": traffic.pushedKeys,
            "key_cache_resends": traffic.keyCacheResends, "key_cache_misses": traffic.report.keyCacheMisses,
        ]
        if let lastMetrics { result["test"] = Self.json(lastMetrics) }
        if let trueModel { result["true_model"] = Self.json(trueModel) }
        if let path = settings.saveModelPath, rank == 0 { result["model"] = path }
        let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        SupervisorChannel.emit("result " + String(decoding: data, as: UTF8.self))
        progress.report(fraction: 1, "done", force: true)

        var summary = "trained \(trainedExamples) examples in \(settings.epochs) epoch(s), \(Self.format(rate: rate)) ex/s, train logloss \(Self.format(lastLoss))"
        if skipped.count + skippedTest.count > 0 {
            summary += "; skipped \(skipped.count + skippedTest.count) malformed line(s) (on_bad_line: skip)"
        }
        if let lastMetrics {
            summary += "; test AUC \(Self.format(lastMetrics.auc))"
            if let trueModel { summary += " (true model \(Self.format(trueModel.auc)))" }
            summary += ", logloss \(Self.format(lastMetrics.logLoss)), accuracy \(Self.format(lastMetrics.accuracy)) on \(lastMetrics.count) rows"
        }
        return summary
    }

    /// Every example of `source`, counting the malformed lines skipped into `skipped`.
    private func readAll(_ source: SparseLRSettings.DataSource, skipped: inout SkippedLines) throws -> ExampleBatch {
        let stream = try settings.encoding.openReader(
            path: source.path, selection: source.selection, batchSize: 4096, malformedLines: settings.malformedLines)
        var all = ExampleBatch()
        var batch = ExampleBatch()
        while try stream.next(into: &batch) { all.append(contentsOf: batch) }
        skipped.add(stream)
        return all
    }

    /// `" in rows 9001-"`-style words for the selection's row window, or nothing for every row.
    static func rowsNote(_ selection: RowSelection) -> String {
        guard selection.rows != 0..<Int.max else { return "" }
        let last = selection.rows.upperBound == Int.max ? "" : String(selection.rows.upperBound)
        return " in rows \(selection.rows.lowerBound + 1)-\(last)"
    }

    /// About how many examples `source` selects, from the file's size and the length of its first
    /// lines; nil when the file cannot be read.
    static func estimatedExamples(in source: SparseLRSettings.DataSource) -> Int? {
        guard let handle = FileHandle(forReadingAtPath: source.path) else { return nil }
        defer { try? handle.close() }
        guard let size = try? handle.seekToEnd(), (try? handle.seek(toOffset: 0)) != nil,
              let head = try? handle.read(upToCount: 1 << 18), !head.isEmpty
        else { return nil }
        let newlines = head.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
        let lines = Double(size) / (Double(head.count) / Double(max(newlines, 1)))
        let selection = source.selection
        let window = max(0, min(lines, Double(selection.rows.upperBound)) - Double(selection.rows.lowerBound))
        var fraction = 1 / Double(selection.shard.count)
        if let excluded = selection.excluded { fraction *= 1 - 1 / Double(excluded.count) }
        return Int(window * fraction)
    }

    private func saveModel(trainer: ClusterTrainer, worker: Worker, to path: String) async throws {
        let bound = settings.encoding.keyBound ?? settings.keySpace
        guard bound <= 1 << 28 else {
            throw SparseLRJobError(description: "save_model pulls every key below key_space; \(bound) keys are too many (set key_space to the LIBSVM dimension)")
        }
        let weights = try await trainer.pullWeights(client: worker, keyBound: bound)
        try TrainedModel(encoding: settings.encoding, weights: weights).write(to: path)
    }

    /// The true model's metrics on the selected test rows; `probabilitiesPath` has one probability per data line.
    static func trueModelMetrics(probabilitiesPath: String, selection: RowSelection, labels: [Float]) throws -> BinaryClassificationMetrics {
        let text = try String(contentsOfFile: probabilitiesPath, encoding: .utf8)
        var probabilities: [Float] = []
        for (row, line) in text.split(separator: "\n").enumerated() where selection.contains(row: row) {
            guard let probability = Float(line) else {
                throw SparseLRJobError(description: "\(probabilitiesPath):\(row + 1): expected a probability, found \"\(line)\"")
            }
            probabilities.append(probability)
        }
        guard probabilities.count == labels.count else {
            throw SparseLRJobError(description: "\(probabilitiesPath) gives \(probabilities.count) probabilities for \(labels.count) test rows")
        }
        var metrics = BinaryClassificationMetrics()
        metrics.add(predictions: probabilities, labels: labels)
        return metrics
    }

    static func json(_ metrics: BinaryClassificationMetrics) -> [String: Any] {
        var object: [String: Any] = ["logloss": metrics.logLoss, "accuracy": metrics.accuracy, "examples": metrics.count]
        if let auc = metrics.auc { object["auc"] = auc }
        return object
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let (seconds, attoseconds) = (ContinuousClock.now - start).components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    static func format(_ value: Double?) -> String {
        value.map { String(format: "%.4f", $0) } ?? "n/a"
    }

    static func format(rate: Double) -> String {
        rate >= 1e6 ? String(format: "%.2fM", rate / 1e6) : rate >= 1e4 ? String(format: "%.1fk", rate / 1e3) : String(format: "%.0f", rate)
    }
}

/// One epoch's minibatches of a worker's shard: shuffled from memory, or streamed from the file.
private final class TrainingBatches {
    private let stream: BatchStream?
    private let resident: ExampleBatch?
    private let order: [Int]
    private let minibatch: Int
    private var position = 0
    private var batch = ExampleBatch()

    init(
        settings: SparseLRSettings, shard: SparseLRSettings.DataSource, resident: ExampleBatch?, random: inout SplitMix64
    ) throws {
        minibatch = settings.minibatch
        self.resident = resident
        if let resident {
            var order = Array(0..<resident.count)
            // Fisher–Yates with the project's generator, so a seed gives the same order everywhere.
            for index in stride(from: order.count - 1, to: 0, by: -1) {
                order.swapAt(index, Int(random.next() % UInt64(index + 1)))
            }
            self.order = order
            stream = nil
        } else {
            order = []
            stream = try settings.encoding.openReader(
                path: shard.path, selection: shard.selection, batchSize: minibatch, malformedLines: settings.malformedLines)
        }
    }

    /// Adds the malformed lines the stream skipped so far to `skipped`.
    func countSkippedLines(into skipped: inout SkippedLines) {
        if let stream { skipped.add(stream) }
    }

    func next() throws -> ExampleBatch? {
        if let stream { return try stream.next(into: &batch) ? batch : nil }
        guard let resident, position < order.count else { return nil }
        let end = min(position + minibatch, order.count)
        defer { position = end }
        return resident.examples(at: order[position..<end])
    }
}

/// The malformed lines a worker skipped under `on_bad_line: skip`, and the first one's error.
struct SkippedLines {
    var count = 0
    var first: String?

    mutating func add(_ stream: BatchStream) {
        count += stream.skippedLines
        if first == nil { first = stream.firstSkippedError?.description }
    }
}

/// A sparse_lr job failed outside the cluster protocol (files, sizes).
struct SparseLRJobError: Error, CustomStringConvertible {
    let description: String
}
