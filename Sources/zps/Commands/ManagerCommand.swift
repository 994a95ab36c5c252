import ArgumentParser
import Logging
import ParameterServer

/// `zps manager`: the manager of a topology.
struct ManagerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "manager",
        abstract: "Run the manager: admit servers and workers, assign key ranges, run barriers, end the job.")

    @OptionGroup var options: RoleOptions

    func run() async throws {
        options.attachToSupervisor()
        let topology = try options.loadTopology()
        let logger = try LogSetup.bootstrap(level: options.logLevel, label: "zps.manager")
        var settings = ManagerSettings(
            bindEndpoint: options.bind ?? topology.bindEndpoint(role: .manager, rank: 0),
            servers: topology.servers.count, workers: topology.workers.count, keySpace: topology.keySpaceRange,
            deadlines: topology.deadlines, cpu: try options.cpu(role: .manager, topology: topology))
        settings.batchScheduling = topology.manager.scheduling.usesBatchScheduling
        settings.replication = topology.replication
        settings.virtualNodes = topology.servers.virtualNodes
        settings.security = topology.security.transportSecurity
        let manager = ManagerNode(settings: settings, logger: logger) { endpoint in
            SupervisorChannel.emit("ready \(endpoint)")
            if let readyFile = options.readyFile { ReadyFile.create(readyFile, logger: logger) }
            logger.notice("manager listening on \(endpoint)")
        } onFinish: { report in
            for line in report.workerSummaries { SupervisorChannel.emit("summary \(line)") }
            for line in report.recoveries { SupervisorChannel.emit("summary recovered: \(line)") }
            if !report.unacknowledged.isEmpty {
                SupervisorChannel.emit("summary no shutdown acknowledgement from \(report.unacknowledged.joined(separator: ", "))")
            }
            if let failure = report.failure { SupervisorChannel.emit("failure \(failure)") }
        }
        try await RoleProcess.run(manager, name: "manager", logger: logger, supervised: options.supervised)
    }
}
