import Foundation
import SparseLR

/// Vowpal Wabbit, the single-machine learner the `cost` scenario measures zps against: the
/// `vowpalwabbit` Python package (its C++ learner and parser, driven from `bench/vowpal_wabbit.py`)
/// in a virtual environment under `.build/`, installed with pip when missing.
struct VowpalWabbit: Sendable {
    /// What one training run cost and how good its model is.
    struct Run: Sendable {
        /// From the start of parsing to the model written, inside VW's process.
        var wallSeconds: Double
        /// The whole training process, Python's start-up included.
        var processWallSeconds: Double
        /// The whole training process's CPU time, as for zps's processes.
        var cpuSeconds: Double
        var metrics: BinaryClassificationMetrics
    }

    /// The virtual environment's Python.
    let python: String
    /// `bench/vowpal_wabbit.py`.
    let script: String
    /// Scratch files (logs, cache, model, predictions).
    let directory: String

    static let environment = ".build/vw-venv"
    static let script = "bench/vowpal_wabbit.py"

    /// The environment with `vowpalwabbit` importable, created and installed when missing; nil,
    /// with the reason on standard error, when that fails.
    static func locate(directory: String) -> VowpalWabbit? {
        guard FileManager.default.fileExists(atPath: script) else {
            note("no \(script) here (run zps-bench from the package root): the cost scenario measures zps alone")
            return nil
        }
        let python = environment + "/bin/python"
        func importable() -> Bool {
            FileManager.default.isExecutableFile(atPath: python)
                && (try? shell(python, ["-c", "import vowpalwabbit"], log: directory + "/vw-import.log").status) == 0
        }
        if !importable() {
            note("installing the vowpalwabbit Python package into \(environment) (once)")
            let log = directory + "/vw-install.log"
            let created = FileManager.default.isExecutableFile(atPath: python)
                || (try? shell("/usr/bin/env", ["python3", "-m", "venv", environment], log: log).status) == 0
            let installed = created && (try? shell(python, ["-m", "pip", "install", "--quiet", "vowpalwabbit"], log: log).status) == 0
            guard installed, importable() else {
                let detail = (try? String(contentsOfFile: log, encoding: .utf8))?.split(separator: "\n").last.map(String.init) ?? ""
                note("cannot install vowpalwabbit into \(environment) (\(detail)): the cost scenario measures zps alone, without the comparison")
                return nil
            }
        }
        return VowpalWabbit(python: python, script: script, directory: directory)
    }

    /// Writes `source` (Criteo TSV) as VW text to `destination`.
    func convert(_ source: String, to destination: String) throws {
        let outcome = try Self.shell(python, [script, "convert", source, destination], log: directory + "/vw-convert.log")
        guard outcome.status == 0 else {
            try? FileManager.default.removeItem(atPath: destination)
            throw BenchError("converting \(source) for Vowpal Wabbit failed: \(outcome.output)")
        }
    }

    /// Trains on `train`, scores `test`, and returns the training run's cost and the test metrics.
    func run(train: String, test: String, labels: [Float], settings: CostSettings) throws -> Run {
        let model = directory + "/vw.model"
        let trained = try Self.shell(
            python,
            [
                script, "train", train, model, directory + "/vw.cache", "\(settings.hashBits)", "\(settings.epochs)",
                "\(settings.alpha)", "\(settings.beta)", "\(settings.l1)", "\(settings.l2)",
            ],
            log: directory + "/vw-train.log")
        guard trained.status == 0,
            let line = trained.output.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            let wall = object["wall_seconds"] as? Double
        else { throw BenchError("Vowpal Wabbit training failed (exit \(trained.status)): \(trained.output)") }
        let predictionsPath = directory + "/vw.predictions"
        let tested = try Self.shell(python, [script, "test", test, model, predictionsPath], log: directory + "/vw-test.log")
        guard tested.status == 0 else { throw BenchError("Vowpal Wabbit scoring failed: \(tested.output)") }
        let text = try String(contentsOfFile: predictionsPath, encoding: .utf8)
        let predictions = try text.split(separator: "\n").enumerated().map { row, line in
            guard let value = Float(line.split(separator: " ").first ?? "") else {
                throw BenchError("\(predictionsPath):\(row + 1): expected a probability, found \"\(line)\"")
            }
            return value
        }
        guard predictions.count == labels.count else {
            throw BenchError("Vowpal Wabbit gave \(predictions.count) predictions for \(labels.count) test rows")
        }
        var metrics = BinaryClassificationMetrics()
        metrics.add(predictions: predictions, labels: labels)
        return Run(wallSeconds: wall, processWallSeconds: trained.wallSeconds, cpuSeconds: trained.cpuSeconds, metrics: metrics)
    }

    private static func shell(_ executable: String, _ arguments: [String], log: String) throws -> MeasuredProcess.Outcome {
        try MeasuredProcess(executable: executable, arguments: arguments, logPath: log).run()
    }

    private static func note(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
