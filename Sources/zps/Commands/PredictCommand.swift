import ArgumentParser
import Foundation
import SparseLR

/// `zps predict`: scores a data file with a model saved by a `sparse_lr` job (`save_model`), reading
/// the file with the encoding the model was trained with.
struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Write the click probability of every row of a data file under a saved model.",
        discussion: """
            The model file (written by a sparse_lr job with save_model) records the data format and \
            hashing, so DATA is read as the training data was. One probability per selected row is \
            written, in file order; AUC, log-loss and accuracy against the file's labels go to \
            standard error.
            """)

    @Argument(help: "The model file.")
    var model: String

    @Argument(help: "The data file to score.")
    var data: String

    @Option(help: "Write the probabilities here (default: standard output).")
    var output: String?

    @Option(help: "Only these 1-based rows, FIRST-LAST or FIRST-.")
    var rows: String?

    @Option(help: "Override the model's data format: libsvm, criteo, csv or avazu.")
    var format: String?

    func validate() throws {
        if let format, FeatureEncoding.Format(rawValue: format) == nil {
            throw ValidationError("--format: expected one of \(SparseLRSettings.formatList), found \"\(format)\"")
        }
        if let rows, SparseLRSettings.parseRows(rows) == nil {
            throw ValidationError("--rows: expected FIRST-LAST or FIRST- (1-based), found \"\(rows)\"")
        }
    }

    func run() throws {
        if let output, let problem = FileChecks.outputProblem(output) {
            throw CommandFailure("predict: --output: \(problem)")
        }
        do {
            var loaded = try TrainedModel.read(from: model)
            if let format { loaded.encoding.format = FeatureEncoding.Format(rawValue: format)! }
            let selected = rows.flatMap(SparseLRSettings.parseRows) ?? 0..<Int.max
            let stream = try loaded.encoding.openReader(path: data, selection: RowSelection(rows: selected), batchSize: 4096)
            let sink = try output.map { path in
                guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
                    throw CommandFailure("predict: --output: cannot create \(path)")
                }
                return handle
            } ?? FileHandle.standardOutput
            var metrics = BinaryClassificationMetrics()
            var batch = ExampleBatch()
            while try stream.next(into: &batch) {
                let predictions = loaded.predict(batch)
                metrics.add(predictions: predictions, labels: batch.labels)
                var text = ""
                text.reserveCapacity(predictions.count * 12)
                for prediction in predictions { text += "\(prediction)\n" }
                sink.write(Data(text.utf8))
            }
            if output != nil { try sink.close() }
            guard metrics.count > 0 else {
                throw CommandFailure("predict: \(data) holds no examples\(SparseLRJob.rowsNote(RowSelection(rows: selected)))")
            }
            let auc = metrics.auc.map { String(format: "%.4f", $0) } ?? "n/a"
            printError(String(
                format: "zps predict: %d rows; AUC %@, logloss %.4f, accuracy %.4f", metrics.count, auc, metrics.logLoss, metrics.accuracy))
        } catch let error as DataFormatError {
            throw CommandFailure("predict: \(error)")
        }
    }
}
