import ArgumentParser
import Logging
import ParameterServer
import ServiceLifecycle

/// `zps server`: one server of a topology.
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server", abstract: "Run one server: register with the manager, serve the key ranges it assigns.")

    @OptionGroup var options: RoleOptions

    @Flag(help: "Join a running job as a server beyond the topology's count (--rank at or past it): the manager hands it its share of the key ranges.")
    var join = false

    func run() async throws {
        options.attachToSupervisor()
        let topology = try options.loadTopology()
        let settings = try options.nodeSettings(role: .server, topology: topology, joining: join)
        let logger = try LogSetup.bootstrap(level: options.logLevel, label: "zps.\(settings.name)")
        try await ManagerHostCheck.waitUntilResolvable(settings, logger: logger)
        let supervised = options.supervised
        let server = ServerNode(settings: settings, logger: logger, onLeft: {
            if supervised { SupervisorChannel.emit("left") }
        })
        try await RoleProcess.run(server, name: settings.name, logger: logger, supervised: options.supervised)
    }
}

/// Runs one role under a service group that turns SIGTERM and SIGINT into a graceful shutdown, and
/// turns a failure into a one-line error on standard error and a non-zero exit. Under `zps run`
/// the failure also goes to the supervisor (`@zps failed cause|consequence TEXT`), marked as a
/// consequence when the node only stopped because the job was being shut down, so that the
/// summary names the root cause first.
enum RoleProcess {
    static func run(_ service: some Service, name: String, logger: Logger, supervised: Bool) async throws {
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            let failure = error as? NodeFailure
            let message = failure?.message ?? (error as? ServiceGroupError).map { "\($0)" } ?? "\(error)"
            let elsewhere = failure?.elsewhere ?? false
            printError("\(name): \(message)")
            if supervised {
                let consequence = elsewhere || message.contains("[shuttingDown]") || message.contains("asked to stop (signal)")
                SupervisorChannel.emit("failed \(consequence ? "consequence" : "cause") \(message)")
            }
            throw elsewhere ? ExitCode(NodeFailure.jobFailedElsewhereExitStatus) : ExitCode.failure
        }
    }
}
