import Foundation
import SparseLR
import Testing

/// Mistakes `zps run` refuses before any process starts, each with the exact message and exit
/// status 1, and the `--json` summary it writes for them. No cluster starts here: a run that got
/// past its checks would print `zps: starting`.
@Suite("zps run refuses mistakes before it starts", .serialized)
struct RunValidationTests {
    let directory: URL
    /// 200 training and 50 test rows of generated Criteo TSV.
    let train: String
    let test: String

    init() throws {
        directory = try ClusterSupport.temporaryDirectory("validation")
        train = directory.appendingPathComponent("train.tsv").path
        test = directory.appendingPathComponent("test.tsv").path
        var generator = SyntheticCTRGenerator(seed: 3)
        try generator.write(rows: 200, to: train, probabilitiesPath: train + ".probabilities")
        try generator.write(rows: 50, to: test, probabilitiesPath: test + ".probabilities")
    }

    /// A sparse_lr topology `topology.yaml` in the test's directory with `application` lines.
    func topology(_ application: String, updaterOptions: String = "alpha: 0.05") throws -> String {
        try ClusterSupport.writeSparseLRTopology(
            in: directory, workers: 2, updaterOptions: updaterOptions,
            application: application.split(separator: "\n").map(String.init))
    }

    /// Runs `zps ARGUMENTS` to its end: exit status, standard output, standard error.
    func zps(_ arguments: [String]) async throws -> (status: Int32, output: String, errors: String) {
        let process = try NodeProcess("zps-\(UUID().uuidString.prefix(6))", arguments: arguments, directory: directory)
        defer { process.kill() }
        guard let status = try await process.waitForExit(within: .seconds(60)) else {
            throw ClusterTestError("zps \(arguments.joined(separator: " ")) did not finish; stderr:\n\(process.errors.suffix(2000))")
        }
        return (status, process.output, process.errors)
    }

    /// Expects `zps run TOPOLOGY` to print exactly `zps: MESSAGE` and exit with 1 before starting anything.
    func expectRefusal(_ topology: String, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await expectRefusal(topology, [], message, sourceLocation: sourceLocation)
    }

    /// Expects `zps run TOPOLOGY ARGUMENTS` to print exactly `zps: MESSAGE` and exit with 1 before starting anything.
    func expectRefusal(_ topology: String, _ arguments: [String], _ message: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let run = try await zps(["run", topology] + arguments)
        #expect(run.status == 1, sourceLocation: sourceLocation)
        #expect(run.errors == "zps: \(message)\n", sourceLocation: sourceLocation)
        #expect(run.output.isEmpty, sourceLocation: sourceLocation)
    }

    @Test("a misspelt application parameter, in the file or with --set, is refused with the closest name")
    func unknownParameters() async throws {
        let path = try topology("train: \(train)\nepoch: 5")
        try await expectRefusal(path, "\(path):11:10: application.epoch: unknown parameter of sparse_lr; did you mean \"epochs\"?")
        let good = try topology("train: \(train)")
        try await expectRefusal(good, ["--set", "minibtach=7"], "command line: application.minibtach: unknown parameter of sparse_lr; did you mean \"minibatch\"?")
        try await expectRefusal(good, ["--set", "workers=3"], "command line: application.workers: unknown parameter of sparse_lr; workers is a topology field, set with --workers N")
    }

    @Test("an updater option with a typo is refused at the option")
    func updaterOptionTypo() async throws {
        let path = try topology("train: \(train)", updaterOptions: "alhpa: 0.05")
        try await expectRefusal(path, "\(path):6:63: tables[0].updater_options.alhpa: updater 'ftrl' has no option 'alhpa'; it takes alpha, beta, l1, l2; did you mean \"alpha\"?")
    }

    @Test("data paths in a topology are relative to its file; a missing generated file points at make run")
    func missingFiles() async throws {
        let path = try topology("train: data/synthetic-train.tsv")
        try await expectRefusal(path, "\(path):10:10: application.train: cannot open \(directory.path)/data/synthetic-train.tsv: No such file or directory (`make run` generates the synthetic data set; or write one with `zps generate --train FILE --test FILE`)")
        let relative = try topology("train: train.tsv\ntest: absent.tsv")
        try await expectRefusal(relative, "\(relative):11:9: application.test: cannot open \(directory.path)/absent.tsv: No such file or directory")
    }

    @Test("empty data sets are refused: an empty file, rows past the end, fewer examples than workers")
    func emptyDataSets() async throws {
        let empty = directory.appendingPathComponent("empty.tsv").path
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        let path = try topology("train: \(train)")
        try await expectRefusal(path, ["--test", empty], "command line: application.test: \(empty) is empty (0 bytes): there are no test examples")
        let rows = try topology("train: \(train)\ntrain_rows: 201-")
        try await expectRefusal(rows, "\(rows):11:15: application.train_rows: the training set in rows 201- of \(train) holds no examples: the file has 200 data line(s)")
        try await expectRefusal(path, ["--set", "train_rows=200-"], "command line: application.train_rows: the training set in rows 200- of \(train) holds 1 example(s) for 2 workers: every worker needs at least one")
        let blank = directory.appendingPathComponent("blank.tsv").path
        try "\n  \n".write(toFile: blank, atomically: true, encoding: .utf8)
        try await expectRefusal(path, ["--train", blank], "command line: application.train: \(blank) holds no data lines: there are no training examples")
    }

    @Test("a malformed line among the first examples is reported by file, line and field")
    func malformedLine() async throws {
        var lines = try String(contentsOfFile: train, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        lines[2] = "1\tgarbage" + lines[2].drop { $0 != "\t" }.dropFirst().drop { $0 != "\t" }
        let bad = directory.appendingPathComponent("bad.tsv").path
        try lines.joined(separator: "\n").write(toFile: bad, atomically: true, encoding: .utf8)
        let path = try topology("train: \(bad)")
        try await expectRefusal(path, "\(bad):3: field 2 (I1): expected an integer, found \"garbage\" (format criteo)")
        // Under on_bad_line: skip the line is skipped; a file of nothing but bad lines is still refused.
        let allBad = directory.appendingPathComponent("all-bad.tsv").path
        try "x\ny\n".write(toFile: allBad, atomically: true, encoding: .utf8)
        try await expectRefusal(path, ["--train", allBad, "--set", "on_bad_line=skip"], "\(allBad): every selected line of the training set is malformed and was skipped (on_bad_line: skip); the first: \(allBad):1: expected 40 tab-separated fields, found 1")
        try await expectRefusal(path, ["--set", "on_bad_line=maybe"], "command line: application.on_bad_line: expected fail or skip, found \"maybe\"")
    }

    @Test("outputs that cannot be written are refused before training: save_model and --json")
    func unwritableOutputs() async throws {
        let path = try topology("train: \(train)\nsave_model: missing/model.txt")
        try await expectRefusal(path, "\(path):11:15: application.save_model: cannot write \(directory.path)/missing/model.txt: the directory \(directory.path)/missing does not exist")
        try await expectRefusal(path, ["--json", "/nonexistent-dir/summary.json"], "--json: cannot write /nonexistent-dir/summary.json: the directory /nonexistent-dir does not exist")
    }

    @Test("--test replaces the topology's test set whole: its rows and true probabilities go with it")
    func testOverrideDropsTheTopologysTestParameters() async throws {
        let path = try topology("train: \(train)\ntest: \(train)\ntest_rows: 1-10\ntest_probabilities: nowhere.probabilities\nsave_model: missing/m.txt")
        try await expectRefusal(path, "\(path):13:23: application.test_probabilities: cannot open \(directory.path)/nowhere.probabilities: No such file or directory")
        // With --test the probabilities are not looked for; the next check speaks.
        try await expectRefusal(path, ["--test", test], "\(path):14:15: application.save_model: cannot write \(directory.path)/missing/m.txt: the directory \(directory.path)/missing does not exist")
    }

    @Test("--json is written for a refused topology: schema, version, status and the error")
    func jsonForInvalidTopology() async throws {
        let path = try topology("train: \(train)\nepoch: 5")
        let json = directory.appendingPathComponent("invalid.json").path
        let run = try await zps(["run", path, "--json", json])
        #expect(run.status == 1)
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        let message = "\(path):11:10: application.epoch: unknown parameter of sparse_lr; did you mean \"epochs\"?"
        #expect(summary["schema"] as? String == "zps.run")
        #expect(summary["schema_version"] as? Int == 1)
        let version = try await zps(["--version"])
        #expect(version.status == 0)
        #expect(version.output.range(of: #"^\d+\.\d+\.\d+\n$"#, options: .regularExpression) != nil, "--version printed \(version.output)")
        #expect(summary["zps_version"] as? String == version.output.trimmingCharacters(in: .newlines))
        #expect(summary["topology"] as? String == path)
        #expect(summary["status"] as? String == "invalid")
        #expect(summary["succeeded"] as? Bool == false)
        #expect(summary["failure"] as? String == message)
        #expect(summary["errors"] as? [String] == [message])
    }

    @Test("--json is written when the command line itself does not parse")
    func jsonForUnparsedCommandLine() async throws {
        let path = try topology("train: \(train)")
        let json = directory.appendingPathComponent("unparsed.json").path
        let run = try await zps(["run", path, "--json", json, "--frobnicate", "3"])
        #expect(run.status == 1)
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        #expect(summary["schema"] as? String == "zps.run")
        #expect(summary["topology"] as? String == path)
        #expect(summary["status"] as? String == "invalid")
        #expect(summary["failure"] as? String == "Unknown option '--frobnicate'")
    }

    @Test("data errors exit with 1 and no usage line; command-line mistakes exit with 1 and show the usage")
    func exitStatuses() async throws {
        let model = directory.appendingPathComponent("model.txt").path
        try TrainedModel(encoding: FeatureEncoding(format: .criteo), weights: [(key: 1, weight: 0.5)]).write(to: model)
        let missing = try await zps(["predict", model, directory.appendingPathComponent("none.tsv").path])
        #expect(missing.status == 1)
        #expect(missing.errors == "zps: predict: \(directory.path)/none.tsv: cannot open: No such file or directory\n")
        let empty = directory.appendingPathComponent("empty-predict.tsv").path
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        let nothing = try await zps(["predict", model, empty])
        #expect(nothing.status == 1)
        #expect(nothing.errors == "zps: predict: \(empty) holds no examples\n")
        let output = try await zps(["predict", model, test, "--output", "/nonexistent-dir/p.txt"])
        #expect(output.status == 1)
        #expect(output.errors == "zps: predict: --output: cannot write /nonexistent-dir/p.txt: the directory /nonexistent-dir does not exist\n")
        let usage = try await zps(["run"])
        #expect(usage.status == 1)
        #expect(usage.errors.hasPrefix("Error: Missing expected argument '<topology>'\n"))
        #expect(usage.errors.contains("Usage: zps run [<options>] <topology>"))
    }
}
