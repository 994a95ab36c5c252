import Foundation
import ParameterServer
import SparseLR

/// What `zps run` checks of a `sparse_lr` job before any process starts, in well under a second:
/// every data file opens and is not empty, its first examples parse and the rows the job selects
/// hold examples; `test_probabilities` can be read and `save_model` can be written. A mistake
/// found here costs no cluster start-up, and one found at the end of training costs the model.
struct SparseLRPreflight {
    /// The examples of each data set parsed before the job starts.
    static let exampleLimit = 10_000
    /// The data lines looked at while searching the first selected example.
    static let lineLimit = 1_000_000

    let settings: SparseLRSettings
    let application: ApplicationSpec
    let workers: Int

    init(topology: Topology) throws(TopologyError) {
        settings = try SparseLRSettings(topology: topology)
        application = topology.application
        workers = topology.workers.count
    }

    func check() throws(CommandFailure) {
        try checkData(settings.train, parameter: "train", rows: "train_rows", purpose: "training", minimum: workers)
        if let test = settings.test {
            let file = application.parameters["test"] == nil ? "train" : "test"
            try checkData(test, parameter: file, rows: "test_rows", purpose: "test", minimum: 1)
        }
        if let path = settings.testProbabilitiesPath, let problem = FileChecks.inputProblem(path) {
            throw failure("test_probabilities", problem)
        }
        if let path = settings.saveModelPath, let problem = FileChecks.outputProblem(path) {
            throw failure("save_model", problem)
        }
    }

    private func checkData(
        _ source: SparseLRSettings.DataSource, parameter: String, rows rowsParameter: String, purpose: String, minimum: Int
    ) throws(CommandFailure) {
        // A selection that comes out empty is reported where its rows were chosen.
        let selectedBy = [rowsParameter, "holdout"].first { application.parameters[$0] != nil } ?? parameter
        let path = source.path
        if let problem = FileChecks.inputProblem(path, hint: Self.missingFileHint(path)) {
            throw failure(parameter, problem)
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        if size == 0 {
            throw failure(parameter, "\(path) is empty (0 bytes): there are no \(purpose) examples")
        }
        var examples = 0
        var finished = false
        let stream: BatchStream
        do throws(DataFormatError) {
            stream = try settings.encoding.openReader(
                path: path, selection: source.selection, batchSize: 1024, malformedLines: settings.malformedLines)
            var batch = ExampleBatch()
            while examples < Self.exampleLimit, stream.dataLinesSeen < Self.lineLimit {
                guard try stream.next(into: &batch) else {
                    finished = true
                    break
                }
                examples += batch.count
            }
        } catch {
            throw CommandFailure("\(error) (format \(settings.encoding.format.rawValue))")
        }
        guard finished else { return }
        let rows = SparseLRJob.rowsNote(source.selection)
        if examples == 0 {
            let lines = stream.dataLinesSeen
            if lines == 0 {
                throw failure(parameter, "\(path) holds no data lines: there are no \(purpose) examples")
            }
            if stream.skippedLines > 0, let first = stream.firstSkippedError {
                throw CommandFailure(
                    "\(path): every selected line of the \(purpose) set is malformed and was skipped (on_bad_line: skip); the first: \(first)")
            }
            throw failure(
                selectedBy, "the \(purpose) set\(rows) of \(path) holds no examples: the file has \(lines) data line(s)")
        }
        if examples < minimum {
            throw failure(
                selectedBy, "the \(purpose) set\(rows) of \(path) holds \(examples) example(s) for \(minimum) workers: every worker needs at least one")
        }
    }

    /// How to make a missing file that `make run` would have generated.
    static func missingFileHint(_ path: String) -> String {
        guard (path as NSString).lastPathComponent.hasPrefix("synthetic-") else { return "" }
        return " (`make run` generates the synthetic data set; or write one with `zps generate --train FILE --test FILE`)"
    }

    private func failure(_ parameter: String, _ message: String) -> CommandFailure {
        CommandFailure(application.invalid(parameter, message).description)
    }
}
