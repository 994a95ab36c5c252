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

    @Option(help: ArgumentHelp("Application parameter overrides as NAME=VALUE (repeatable).", valueName: "NAME=VALUE"))
    var set: [String] = []

    @Option(help: "The training file (overrides the topology's application.train).")
    var train: String?

    @Option(help: "The test file (overrides the topology's application.test).")
    var test: String?

    @Option(help: "The data format: libsvm, criteo, csv or avazu (overrides application.format).")
    var format: String?

    @Option(help: "Write a JSON summary of the run to this file (with test.auc, test.logloss, test.accuracy, examples_per_second for sparse_lr).")
    var json: String?

    @Option(help: "Log level of every process: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "notice"

    func run() async throws {
        let logger = try LogSetup.bootstrap(level: logLevel, label: "zps.run")
        let assignments = set + [("train", train), ("test", test), ("format", format)].compactMap { name, value in
            value.map { "\(name)=\($0)" }
        }
        let loaded: Topology
        do {
            loaded = try Topology.load(path: topology).withOverrides(TopologyOverrideParsing.parse(assignments))
            // The application's parameters are checked here, before any process starts, so a bad
            // one is reported at once rather than by a worker after the cluster came up.
            _ = try JobCatalog.application(for: loaded, rank: 0, logger: logger)
        } catch {
            printError("zps: \(error)")
            throw ExitCode.failure
        }
        var passThrough = ["--log-level", logLevel]
        for assignment in assignments { passThrough += ["--set", assignment] }
        let supervisor = Supervisor(configuration: .init(
            topologyPath: topology, topology: loaded, executable: try Self.ownExecutable(), passThrough: passThrough,
            showLiveProgress: isatty(STDERR_FILENO) != 0))
        let service = SupervisorService(supervisor: supervisor)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        guard let outcome = service.outcome.withLock({ $0 }) else { throw ExitCode.failure }
        report(outcome)
        if let json { try writeJSON(outcome, to: json) }
        if !outcome.succeeded { throw ExitCode.failure }
    }

    private func report(_ outcome: Supervisor.Outcome) {
        var lines = ["", "== \(topology): \(outcome.succeeded ? "finished" : "FAILED") in \(String(format: "%.1f", outcome.seconds)) s"]
        lines += outcome.summaries.map { "   \($0)" }
        lines += JobResults(lines: outcome.results).reportLines.map { "   \($0)" }
        if let failure = outcome.failure { lines.append("   error: \(failure)") }
        if !outcome.succeeded { lines += outcome.exits.map { "   \($0)" } }
        print(lines.joined(separator: "\n"))
    }

    private func writeJSON(_ outcome: Supervisor.Outcome, to path: String) throws {
        var object: [String: Any] = [
            "topology": topology, "succeeded": outcome.succeeded, "seconds": outcome.seconds,
            "workers": outcome.summaries, "processes": outcome.exits,
        ]
        if let failure = outcome.failure { object["failure"] = failure }
        object.merge(JobResults(lines: outcome.results).jsonFields) { current, _ in current }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: path))
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
