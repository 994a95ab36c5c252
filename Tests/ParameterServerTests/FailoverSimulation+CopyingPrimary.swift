import ZeroMQ

@testable import ParameterServer

/// A worker that, on an acknowledgement of its push from a server in the middle of copying a range
/// to a new next server, kills that server at once, losing what it had not sent yet (see
/// ``WatchedKills``). That moment comes right after a fail-over, when acknowledgements that skip
/// the chain would show: a push the workers send again to a promoted server that holds its result
/// already (acknowledged only once what it forwarded before is acknowledged), and, after a middle
/// server of a chain of three died, a push whose result goes to the head's new next server — the
/// old tail, a full copy the manager still counts on — while that server receives its copy.
final class CopyingPrimaryWatch: WatchedNode<WorkerCore> {
    let network: InMemoryNetwork
    let servers: [String]
    let kills: WatchedKills

    init(worker: WorkerCore, network: InMemoryNetwork, servers: [String], kills: WatchedKills) {
        self.network = network
        self.servers = servers
        self.kills = kills
        super.init(worker)
    }

    override func received(_ frames: [Frame], from peer: PeerAddress, io: any TransportIO) {
        shell.received(frames, from: peer, io: io)
        guard kills.victims.isEmpty, case .endpoint(let endpoint) = peer, let rank = servers.firstIndex(of: endpoint),
            network.isRunning(endpoint), let first = frames.first, let header = try? HeaderCodec.decode(first),
            header.kind == .pushAck
        else { return }
        var copying = false
        network.execute(on: endpoint) { handler, _ in
            guard let server = (handler as? RoleShell<ServerCore>)?.machine else { return }
            copying = server.replication.chains.contains { server.replication.isCopying($0.range) }
        }
        guard copying else { return }
        network.kill(endpoint, losingUnsent: true)
        kills.record(rank, at: io.now)
    }
}

extension FailoverSimulation {
    /// Runs `work` on the worker at `endpoint` as an event of its machine, watched or not.
    func executeOnWorker(_ endpoint: String, _ work: (WorkerCore) -> Void) {
        network.execute(on: endpoint) { handler, io in
            ((handler as? CopyingPrimaryWatch)?.shell ?? handler as! RoleShell<WorkerCore>).execute(io: io, work)
        }
    }
}
