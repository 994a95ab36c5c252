import ArgumentParser
import Foundation
import ParameterServer

/// Options of the one-role commands (`zps manager|server|worker`).
struct RoleOptions: ParsableArguments {
    @Option(help: "The topology file (YAML) that describes the cluster.")
    var topology: String

    @Option(help: "This node's rank among the nodes of its role (0-based).")
    var rank: Int = 0

    @Option(help: "The manager's endpoint, e.g. tcp://10.0.0.1:7000 (default: the topology's).")
    var manager: String?

    @Option(help: "The endpoint to bind, e.g. tcp://0.0.0.0:7001 (default: the topology's).")
    var bind: String?

    @Option(help: "The host others reach this node at (default: the topology's host for this rank; with --bind, the bound address).")
    var advertise: String?

    @Option(help: "A file to create once the node is ready: the manager listens, a server or worker was admitted.")
    var readyFile: String?

    @Option(help: "The CPU this node's I/O threads are kept on (default: the topology's cpus, else any).")
    var cpu: Int?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "notice"

    @OptionGroup var overrides: TopologyOverrideOptions

    @Flag(help: .hidden)
    var supervised = false

    /// The topology with the command line's overrides.
    func loadTopology() throws -> Topology {
        do throws(TopologyError) {
            let loaded = try Topology.load(path: topology).withOverrides(try overrides.overrides())
            try loaded.validateUpdaterOptions()
            return loaded
        } catch {
            throw CommandFailure(error.description)
        }
    }

    /// The settings of a server or worker node of this topology; `joining`, of a server beyond the
    /// topology's count that joins the running job (its rank at or past the count, an ephemeral port
    /// on its rank's host unless `--bind` says otherwise).
    func nodeSettings(role: NodeRole, topology: Topology, joining: Bool = false) throws -> NodeSettings {
        guard let spec = topology.spec(for: role), rank >= 0, joining ? rank >= spec.count : rank < spec.count else {
            let count = topology.spec(for: role)?.count ?? 0
            throw ValidationError(joining
                ? "--join needs --rank \(count) or more: the topology \(self.topology) has \(count) \(role)s"
                : "--rank \(rank) is outside 0..<\(count) for \(role)s in \(self.topology)")
        }
        guard let managerEndpoint = manager ?? topology.managerEndpoint else {
            throw ValidationError("the topology's manager uses an ephemeral port; pass --manager ENDPOINT")
        }
        var settings = NodeSettings(
            role: role, rank: rank, managerEndpoint: managerEndpoint,
            bindEndpoint: bind ?? (joining ? "tcp://\(spec.bindAddress ?? spec.host(ofRank: rank)):*" : topology.bindEndpoint(role: role, rank: rank)),
            tables: topology.tables, deadlines: topology.deadlines, cpu: joining ? cpu : try cpu(role: role, topology: topology))
        settings.advertisedHost = advertise ?? (bind == nil ? spec.host(ofRank: rank) : nil)
        settings.readyFile = readyFile
        settings.batchScheduling = spec.scheduling.usesBatchScheduling
        settings.busyPoll = spec.busyPoll
        settings.security = topology.security.transportSecurity
        settings.peerLimits = topology.peerLimits
        return settings
    }

    /// The CPU the node is kept on: `--cpu`, else the topology's for this rank, else none.
    func cpu(role: NodeRole, topology: Topology) throws -> Int? {
        if let cpu {
            guard cpu >= 0 else { throw ValidationError("--cpu \(cpu) is not a CPU number (an integer >= 0)") }
            return cpu
        }
        return topology.cpu(role: role, rank: rank)
    }

    /// Ties this process's life to its parent's when it runs under `zps run`: if the supervisor
    /// disappears (even by SIGKILL), the node shuts down gracefully, and exits hard if that stalls.
    func attachToSupervisor() {
        guard supervised else { return }
        let parent = getppid()
        let watcher = Thread {
            while getppid() == parent { usleep(200_000) }
            kill(getpid(), SIGTERM)
            sleep(10)
            _exit(1)
        }
        watcher.name = "zps-parent-watch"
        watcher.start()
    }
}
