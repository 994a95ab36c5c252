import ArgumentParser
import Logging
import ParameterServer
import ServiceLifecycle

/// `zps server`: one server of a topology.
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server", abstract: "Run one server: register with the manager, serve the key ranges it assigns.")

    @OptionGroup var options: RoleOptions

    func run() async throws {
        options.attachToSupervisor()
        let topology = try options.loadTopology()
        let settings = try options.nodeSettings(role: .server, topology: topology)
        let logger = try LogSetup.bootstrap(level: options.logLevel, label: "zps.\(settings.name)")
        try await ManagerHostCheck.waitUntilResolvable(settings, logger: logger)
        let server = ServerNode(settings: settings, logger: logger)
        try await RoleProcess.run(server, name: settings.name, logger: logger)
    }
}

/// Runs one role under a service group that turns SIGTERM and SIGINT into a graceful shutdown, and
/// turns a failure into a one-line error on standard error and a non-zero exit.
enum RoleProcess {
    static func run(_ service: some Service, name: String, logger: Logger) async throws {
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch let failure as NodeFailure {
            printError("\(name): \(failure.message)")
            throw failure.elsewhere ? ExitCode(NodeFailure.jobFailedElsewhereExitStatus) : ExitCode.failure
        } catch {
            printError("\(name): \((error as? ServiceGroupError).map { "\($0)" } ?? "\(error)")")
            throw ExitCode.failure
        }
    }
}
