import ArgumentParser
import Foundation
import ParameterServer

/// `zps launch`: one node of a topology started by a cluster launcher, which says which node it is.
struct LaunchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "launch",
        abstract: "Run the node of a topology that Slurm, MPI or Kubernetes started this process as.",
        discussion: """
            Slurm (srun) and MPI (mpirun) start one task per node of the topology: global rank 0 is the \
            manager, then the servers, then the workers. Under Slurm a topology that leaves the manager's \
            host at 127.0.0.1 gets it on the step's first node, and servers and workers whose host is \
            127.0.0.1 register the name of the node they run on. Kubernetes starts each role on its own: \
            give --role, and the rank comes from --rank, JOB_COMPLETION_INDEX or the pod name's ordinal. \
            See docs/DEPLOY.md.
            """)

    @Option(help: "The topology file (YAML) that describes the cluster; the manager needs a fixed port.")
    var topology: String

    @Option(help: "The role, where each role is started on its own (Kubernetes): manager, server or worker.")
    var role: String?

    @Option(help: "The rank among the role's nodes (default: from the launcher's environment).")
    var rank: Int?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "notice"

    @Option(help: "A file to create once the node is ready (for readiness probes).")
    var readyFile: String?

    @OptionGroup var overrides: TopologyOverrideOptions

    func run() async throws {
        let loaded: Topology
        do throws(TopologyError) {
            loaded = try Topology.load(path: topology).withOverrides(try overrides.overrides())
        } catch {
            throw CommandFailure(error.description)
        }
        let givenRole = try role.map { name -> NodeRole in
            guard let role = [NodeRole.manager, .server, .worker].first(where: { $0.description == name }) else {
                throw ValidationError("--role \(name): expected manager, server or worker")
            }
            return role
        }
        let placement: LaunchPlacement
        do {
            placement = try LaunchPlacement.detect(
                environment: ProcessInfo.processInfo.environment, servers: loaded.servers.count, workers: loaded.workers.count,
                role: givenRole, rank: rank)
        } catch {
            printError("zps launch: \(error)")
            throw ExitCode.failure
        }
        let arguments = try roleArguments(placement, loaded)
        try refusePlaintextBind(arguments, loaded)
        switch placement.role {
        case .manager:
            let command = try ManagerCommand.parse(arguments)
            try await command.run()
        case .server:
            let command = try ServerCommand.parse(arguments)
            try await command.run()
        default:
            let command = try WorkerCommand.parse(arguments)
            try await command.run()
        }
    }

    /// Refuses, before the node starts, a bind beyond loopback (`--bind` among `arguments`: zps
    /// launch binds every interface of a node other nodes must reach) in a plaintext topology
    /// without `insecure: true`, saying what to put in the topology. The node's transport would
    /// refuse the bind too, but as a failed bind that names neither the launcher nor the fix.
    private func refusePlaintextBind(_ arguments: [String], _ loaded: Topology) throws {
        guard loaded.security.curve == nil, !loaded.security.insecure,
            let flag = arguments.firstIndex(of: "--bind"), arguments.indices.contains(flag + 1)
        else { return }
        let endpoint = arguments[flag + 1]
        guard !EndpointHost.isLoopback(endpoint: endpoint) else { return }
        throw CommandFailure(
            """
            launch: this node would bind \(endpoint) (zps launch binds every interface, so that the other nodes \
            reach it), and \(topology) is plaintext, so anyone who reaches that port could write to the cluster. \
            Add one of these to \(topology):
              security: { curve: { cluster_secret_key_file: keys/cluster.key_secret } }   # zps keygen keys/cluster writes the pair (docs/DEPLOY.md)
              security: { insecure: true }   # plaintext, on a network only the cluster reaches
            """)
    }

    /// The arguments of `zps manager|server|worker` for the node this process is.
    private func roleArguments(_ placement: LaunchPlacement, _ loaded: Topology) throws -> [String] {
        var arguments = ["--topology", topology, "--log-level", logLevel] + overrides.fieldArguments
            + overrides.set.flatMap { ["--set", $0] }
        if let readyFile { arguments += ["--ready-file", readyFile] }
        guard loaded.manager.port != 0 else {
            throw ValidationError("zps launch needs a fixed manager port: set manager.port in \(topology)")
        }
        // Under Slurm, a manager left on loopback runs on the step's first node, reached by its name.
        let managerOnLauncherHost = placement.managerHost != nil && loaded.manager.isLoopback
        if placement.role == .manager {
            if managerOnLauncherHost {
                arguments += ["--bind", RoleSpec.endpoint(host: loaded.manager.bindAddress ?? "0.0.0.0", port: loaded.manager.port)]
            }
            return arguments
        }
        arguments += ["--rank", "\(placement.rank)"]
        if managerOnLauncherHost, let host = placement.managerHost {
            arguments += ["--manager", RoleSpec.endpoint(host: host, port: loaded.manager.port)]
        }
        let spec = placement.role == .server ? loaded.servers : loaded.workers
        if let ownHost = placement.ownHost, spec.isLoopback {
            let port = spec.port(ofRank: placement.rank).map(String.init) ?? "*"
            arguments += ["--bind", "tcp://\(spec.bindAddress ?? "0.0.0.0"):\(port)", "--advertise", ownHost]
        }
        return arguments
    }
}
