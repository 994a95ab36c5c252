import Logging

@testable import ParameterServer

/// Two servers with `replication: 1` and one segment each — server 0 heads the lower half of the
/// key space and holds the replica of the upper half, server 1 the other way round — and one
/// worker, registered on an in-memory network with fake time: the chain the replication tests drive
/// by hand, message by message.
enum ReplicatedPair {
    static let keySpace = KeyRange(0, 200)
    static let deadlines = Deadlines(
        startup: .seconds(10), request: .seconds(20), barrier: .seconds(10), shutdown: .seconds(5),
        heartbeatInterval: .milliseconds(200), heartbeatTimeout: .seconds(1), job: .seconds(600))

    /// The halves of ``keySpace``: server 0 heads the first, server 1 the second.
    static var halves: [KeyRange] { keySpace.split(into: 2) }

    static func logger(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = .critical
        return logger
    }

    /// The registered cluster serving `table`, its links interleaved by `seed`; server `rank`
    /// reports its failure to `serverOutcomes[rank]`.
    static func start(
        table: TableSpec, seed: UInt64, serverOutcomes: [NodeOutcome] = [NodeOutcome(), NodeOutcome()], logger: Logger
    ) -> InMemoryNetwork {
        let network = InMemoryNetwork(seed: seed)
        var managerSettings = ManagerSettings(
            bindEndpoint: "mem://manager", servers: 2, workers: 1, keySpace: keySpace, deadlines: deadlines)
        managerSettings.replication = 1
        managerSettings.virtualNodes = 1
        network.add(ManagerCore(settings: managerSettings, logger: logger) { _ in }, endpoint: "mem://manager")
        func settings(_ role: NodeRole, _ rank: Int) -> NodeSettings {
            NodeSettings(
                role: role, rank: rank, managerEndpoint: "mem://manager", bindEndpoint: "mem://\(role)-\(rank)",
                tables: [table], deadlines: deadlines)
        }
        for rank in 0..<2 {
            network.add(ServerCore(settings: settings(.server, rank), outcome: serverOutcomes[rank], logger: logger), endpoint: "mem://server-\(rank)")
        }
        network.add(WorkerCore(settings: settings(.worker, 0), outcome: NodeOutcome(), logger: logger), endpoint: "mem://worker-0")
        network.deliverAll()
        return network
    }

    /// The stored entries of `range` on server `rank`, as primary or as replica.
    static func entries(on network: InMemoryNetwork, _ rank: Int, _ range: KeyRange, table: TableSpec, replica: Bool) -> [Float]? {
        var entries: [Float]?
        network.execute(on: "mem://server-\(rank)", as: ServerCore.self) { core in
            entries = core.storedEntries(table: table.id, range: range, replica: replica)?.entries
        }
        return entries
    }
}
