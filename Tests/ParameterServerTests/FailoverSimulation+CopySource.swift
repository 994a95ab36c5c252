import ZeroMQ

@testable import ParameterServer

/// Kills a ``FailoverSimulation`` makes from inside the nodes, at moments a delivery count cannot
/// name: a primary as its first replicated result is acknowledged to it (``PrimaryWatch``: the push
/// is on its replica, not acknowledged to its worker), and the source of the last copy of the
/// re-protection that follows as the manager gets its report (``CopySourceWatch``: the pushes it
/// acknowledged meanwhile are lost with it if they had not left). The new replica is then
/// promoted, and the workers send it again every push they hold no acknowledgement for: the copy
/// must have carried the record of those pushes, or they are applied twice.
final class WatchedKills {
    /// When each kill happened, in order.
    var times: [ContinuousClock.Instant] = []
    /// How many of them the simulation already waits a recovery for.
    var awaited = 0
    /// The ranks killed.
    var victims: [Int] = []

    func record(_ rank: Int, at time: ContinuousClock.Instant) {
        times.append(time)
        victims.append(rank)
    }
}

/// A node of the simulation whose messages are looked at around its machine's handling of them:
/// every event goes to the machine's own shell; a watch overrides ``received(_:from:io:)``.
class WatchedNode<Machine: RoleMachine>: TransportHandler {
    /// The machine's own shell.
    let shell: RoleShell<Machine>

    init(_ machine: Machine) {
        shell = RoleShell(machine)
    }

    var mainSocket: MainSocket? { shell.mainSocket }
    func start(io: any TransportIO) { shell.start(io: io) }
    func tick(io: any TransportIO) { shell.tick(io: io) }
    func drained(io: any TransportIO) { shell.drained(io: io) }
    func stopped(error: (any Error)?) { shell.stopped(error: error) }

    func received(_ frames: [Frame], from peer: PeerAddress, io: any TransportIO) {
        shell.received(frames, from: peer, io: io)
    }
}

/// A server that dies instead of reading the first `replicateAck` it receives (see ``WatchedKills``).
final class PrimaryWatch: WatchedNode<ServerCore> {
    let network: InMemoryNetwork
    let endpoint: String
    let rank: Int
    let kills: WatchedKills

    init(server: ServerCore, network: InMemoryNetwork, endpoint: String, rank: Int, kills: WatchedKills) {
        self.network = network
        self.endpoint = endpoint
        self.rank = rank
        self.kills = kills
        super.init(server)
    }

    override func received(_ frames: [Frame], from peer: PeerAddress, io: any TransportIO) {
        if kills.victims.isEmpty, let first = frames.first, let header = try? HeaderCodec.decode(first),
            header.kind == .replicateAck
        {
            network.kill(endpoint)
            kills.record(rank, at: io.now)
            return
        }
        shell.received(frames, from: peer, io: io)
    }
}

/// The manager, killing the server whose `replicaReady` ends a re-protection as it reads it (see
/// ``WatchedKills``).
final class CopySourceWatch: WatchedNode<ManagerCore> {
    let manager: ManagerCore
    let network: InMemoryNetwork
    let servers: [String]
    let kills: WatchedKills

    init(manager: ManagerCore, network: InMemoryNetwork, servers: [String], kills: WatchedKills) {
        self.manager = manager
        self.network = network
        self.servers = servers
        self.kills = kills
        super.init(manager)
    }

    override func received(_ frames: [Frame], from peer: PeerAddress, io: any TransportIO) {
        let copying = !manager.membership.catchingUp.isEmpty
        shell.received(frames, from: peer, io: io)
        // The report that ends a re-protection: copies were missing before it, none after.
        guard kills.victims.count == 1, copying, manager.membership.catchingUp.isEmpty, let first = frames.first,
            let header = try? HeaderCodec.decode(first), header.kind == .replicaReady
        else { return }
        // Servers of the simulation have ids 1…S in rank order.
        let rank = Int(header.sender.rawValue) - 1
        guard servers.indices.contains(rank), network.isRunning(servers[rank]) else { return }
        // Its last replies never leave it.
        network.kill(servers[rank], losingUnsent: true)
        kills.record(rank, at: io.now)
    }
}
