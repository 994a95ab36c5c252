import ArgumentParser
import Logging
import ParameterServer

/// `zps worker`: one worker of a topology, running the topology's application.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "Run one worker: register with the manager and run the topology's application.")

    @OptionGroup var options: RoleOptions

    func run() async throws {
        options.attachToSupervisor()
        let topology = try options.loadTopology()
        let settings = try options.nodeSettings(role: .worker, topology: topology)
        let logger = try LogSetup.bootstrap(level: options.logLevel, label: "zps.\(settings.name)")
        let application = try JobCatalog.application(for: topology, rank: options.rank, logger: logger)
        try await ManagerHostCheck.waitUntilResolvable(settings, logger: logger)
        let worker = WorkerNode(settings: settings, logger: logger, application: application)
        try await RoleProcess.run(worker, name: settings.name, logger: logger, supervised: options.supervised)
    }
}
