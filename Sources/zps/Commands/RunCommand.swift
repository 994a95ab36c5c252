import ArgumentParser
import Foundation
import Logging
import ParameterServer
import ServiceLifecycle
import Synchronization

/// `zps run`: the whole topology as processes on this host.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a topology locally: the manager, every server and every worker as separate processes.")

    @Argument(help: "The topology file (YAML), e.g. Topologies/local.yaml.")
    var topology: String

    @OptionGroup var overrides: TopologyOverrideOptions

    @Option(help: "The training file, every row of it (sets application.train and removes train_rows).")
    var train: String?

    @Option(help: "The test file, every row of it (sets application.test and removes test_rows and test_probabilities).")
    var test: String?

    @Option(help: "The data format: libsvm, criteo, csv or avazu (overrides application.format).")
    var format: String?

    @Option(help: "Write a JSON summary of the run to this file, whatever the outcome (schema zps.run, see Topologies/README.md).")
    var json: String?

    @Option(help: "Log level of every process: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "notice"

    func run() async throws {
        let logger = try LogSetup.bootstrap(level: logLevel, label: "zps.run")
        let start = ContinuousClock.now
        if let json, let problem = FileChecks.outputProblem(json) {
            throw CommandFailure("--json: \(problem)")
        }
        let loaded: Topology
        let assignments: [String]
        do {
            (loaded, assignments) = try check()
        } catch {
            printError("zps: \(error)")
            if let json {
                let seconds = SparseLRJob.seconds(since: start)
                try RunSummary.write(RunSummary.object(topology: topology, invalid: "\(error)", seconds: seconds), to: json)
            }
            throw ExitCode.failure
        }
        var passThrough = ["--log-level", logLevel] + overrides.fieldArguments
        for assignment in assignments + overrides.set { passThrough += ["--set", assignment] }
        let supervisor = Supervisor(configuration: .init(
            topologyPath: topology, topology: loaded, executable: try Self.ownExecutable(), passThrough: passThrough,
            showLiveProgress: isatty(STDERR_FILENO) != 0))
        let service = SupervisorService(supervisor: supervisor)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        guard let outcome = service.outcome.withLock({ $0 }) else { throw ExitCode.failure }
        report(outcome)
        if let json { try RunSummary.write(RunSummary.object(topology: topology, outcome: outcome), to: json) }
        if !outcome.succeeded { throw ExitCode.failure }
    }

    /// `--train`, `--test` and `--format` as parameter assignments for the topology `file`. A data
    /// file given on the command line is read whole: the topology's row windows (and the true
    /// probabilities of its own test file) belonged to its files, so they are removed; `--set`
    /// after them can set them again. `holdout` stays: it holds out rows of whatever file trains.
    func dataAssignments(file: Topology) -> [String] {
        var assignments: [String] = []
        if let train {
            assignments += ["train=\(train)", "train_rows="]
            // Test rows of the topology's training file do not carry over to another file.
            if test == nil, file.application.parameters["test"] == nil { assignments.append("test_rows=") }
        }
        if let test { assignments += ["test=\(test)", "test_rows=", "test_probabilities="] }
        if let format { assignments.append("format=\(format)") }
        return assignments
    }

    /// Everything that can be known before a process starts: the topology with its overrides, the
    /// updaters' options, the application's parameters and (for sparse_lr) its files.
    private func check() throws -> (Topology, assignments: [String]) {
        let file = try Topology.load(path: topology)
        let assignments = dataAssignments(file: file)
        let loaded = try file.withOverrides(try overrides.overrides(preceding: assignments))
        try loaded.validateUpdaterOptions()
        try JobCatalog.validate(loaded)
        if loaded.application.kind == .sparseLR {
            try SparseLRPreflight(topology: loaded).check()
        }
        return (loaded, assignments)
    }

    private func report(_ outcome: Supervisor.Outcome) {
        var lines = ["", "== \(topology): \(outcome.succeeded ? "finished" : "FAILED") in \(String(format: "%.1f", outcome.seconds)) s"]
        if let failure = outcome.failure { lines.append("   error: \(failure)") }
        lines += outcome.summaries.map { "   \($0)" }
        lines += JobResults(lines: outcome.results).reportLines.map { "   \($0)" }
        if !outcome.succeeded { lines += outcome.exits.map { "   \($0)" } }
        print(lines.joined(separator: "\n"))
    }

    /// The path of this executable, so children run the same build.
    static func ownExecutable() throws -> String {
        let path = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        return path
    }
}

/// Runs the supervisor on its own thread under the service group, and stops it on a signal.
final class SupervisorService: Service, Sendable {
    let supervisor: Supervisor
    let outcome = Mutex<Supervisor.Outcome?>(nil)

    init(supervisor: Supervisor) {
        self.supervisor = supervisor
    }

    func run() async {
        await withGracefulShutdownHandler {
            let result: Supervisor.Outcome = await withCheckedContinuation { continuation in
                let thread = Thread { [supervisor] in
                    continuation.resume(returning: supervisor.run())
                }
                thread.name = "zps-supervisor"
                thread.start()
            }
            outcome.withLock { $0 = result }
        } onGracefulShutdown: { [supervisor] in
            supervisor.requestStop()
        }
    }
}
