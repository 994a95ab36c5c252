import Logging

@testable import ParameterServer

/// What the join tests start: a manager, `servers` servers (`mem://server-N`) and one worker
/// (`mem://worker-0`) of one table on an in-memory network, registered; servers that join later
/// come through ``addServer(rank:)``. Each server's outcome is kept by rank.
struct InMemoryJoinCluster {
    let network: InMemoryNetwork
    let reports = InMemoryClusterTests.Reports()
    let table: TableSpec
    let deadlines: Deadlines
    let logger: Logger
    /// The outcome of each server, by rank: the cluster's and up to two joiners'.
    let outcomes: [NodeOutcome]

    init(
        seed: UInt64, servers: Int = 3, replication: Int, keySpace: KeyRange, table: TableSpec, deadlines: Deadlines,
        logger: Logger
    ) {
        network = InMemoryNetwork(seed: seed)
        self.table = table
        self.deadlines = deadlines
        self.logger = logger
        outcomes = (0..<servers + 2).map { _ in NodeOutcome() }
        var managerSettings = ManagerSettings(
            bindEndpoint: "mem://manager", servers: servers, workers: 1, keySpace: keySpace, deadlines: deadlines)
        managerSettings.replication = replication
        let reports = reports
        network.add(ManagerCore(settings: managerSettings, logger: logger) { reports.append($0) }, endpoint: "mem://manager")
        for rank in 0..<servers { addServer(rank: rank) }
        network.add(WorkerCore(settings: settings(.worker, 0), outcome: NodeOutcome(), logger: logger), endpoint: "mem://worker-0")
        network.deliverAll(shuffled: true)
    }

    func settings(_ role: NodeRole, _ rank: Int) -> NodeSettings {
        NodeSettings(
            role: role, rank: rank, managerEndpoint: "mem://manager", bindEndpoint: "mem://\(role)-\(rank)",
            tables: [table], deadlines: deadlines)
    }

    /// Starts the server of `rank` at `mem://server-<rank>`; beyond the topology's count, it asks to join.
    func addServer(rank: Int) {
        network.add(ServerCore(settings: settings(.server, rank), outcome: outcomes[rank], logger: logger), endpoint: "mem://server-\(rank)")
    }
}
