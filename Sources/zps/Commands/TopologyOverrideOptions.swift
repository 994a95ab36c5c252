import ArgumentParser
import ParameterServer

/// The command-line overrides of a topology's fields, shared by `zps run` and the one-role
/// commands (every node of a job must see the same topology, so `zps run` hands its overrides on).
struct TopologyOverrideOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Application parameter overrides as NAME=VALUE (repeatable); NAME= removes the parameter.", valueName: "NAME=VALUE"))
    var set: [String] = []

    @Option(help: "The number of servers (overrides servers.count).")
    var servers: Int?

    @Option(help: "The number of workers (overrides workers.count).")
    var workers: Int?

    @Option(help: "The key space (overrides key_space).")
    var keySpace: UInt64?

    @Option(help: "How many servers keep a copy of each key range besides its primary (overrides replication).")
    var replication: Int?

    @Option(help: "The manager's host (overrides manager.host).")
    var managerHost: String?

    @Option(help: "The manager's port (overrides manager.port).")
    var managerPort: Int?

    /// The overrides; `assignments` apply before `--set`'s, which win.
    func overrides(preceding assignments: [String] = []) throws(TopologyError) -> TopologyOverrides {
        var overrides = TopologyOverrides(
            managerHost: managerHost, managerPort: managerPort, serverCount: servers, workerCount: workers,
            keySpace: keySpace, replication: replication)
        for assignment in assignments + set { try overrides.setApplicationParameter(assignment) }
        return overrides
    }

    /// The flags that give another `zps` process the same overrides (without `--set`).
    var fieldArguments: [String] {
        var arguments: [String] = []
        if let servers { arguments += ["--servers", "\(servers)"] }
        if let workers { arguments += ["--workers", "\(workers)"] }
        if let keySpace { arguments += ["--key-space", "\(keySpace)"] }
        if let replication { arguments += ["--replication", "\(replication)"] }
        if let managerHost { arguments += ["--manager-host", managerHost] }
        if let managerPort { arguments += ["--manager-port", "\(managerPort)"] }
        return arguments
    }
}
