import Logging

/// A server asked to stop while the job runs (SIGTERM: its host drained, its pod evicted) leaves
/// the job instead of ending it (docs/FAULT-TOLERANCE.md, "Leaving"). Where every range
/// it holds has a full copy on another server, the manager takes it out at once, as it takes out a
/// server whose heartbeats stopped but without waiting for the timeout: replicas are promoted, new
/// ones copied, the new table published; then it tells the server to stop. What the server
/// acknowledged is on its replicas (a push is acknowledged only once its chain holds it), and what
/// it had not acknowledged the workers send again to the new primaries.
extension ManagerCore {
    func leave(_ header: Header, from peer: PeerAddress) {
        guard let member = members[header.sender], member.peer == peer, member.info.role == .server else {
            return refuse(header, peer: peer, .notRegistered, "only a registered server leaves the job")
        }
        let name = member.info.name
        guard case .running = phase else {
            return refuse(header, peer: peer, .shuttingDown, "the job is not running: \(name) stops with it")
        }
        guard settings.replication > 0 else {
            return refuse(
                header, peer: peer, .invalidRequest, "replication is 0: the ranges of \(name) have no copy on another server")
        }
        // Taken out only from a settled table: not while a join or a re-protection moves ranges.
        if let join {
            return refuse(header, peer: peer, .busy, "\(join.name) is joining: \(name) may leave once it has")
        }
        if let range = membership.catchingUp.keys.min(by: { $0.lowerBound < $1.lowerBound }) {
            return refuse(header, peer: peer, .busy, "copies of \(range) and others are still being made: \(name) may leave once they are")
        }
        let plan: RecoveryPlan
        do {
            plan = try RecoveryPlan.make(dead: [member.info.id], in: membership)
        } catch {
            return refuse(
                header, peer: peer, .invalidRequest,
                "key ranges \(error.lostRanges.map(\.description).joined(separator: ", ")) have no copy on another server")
        }
        members[member.info.id] = nil
        lostServers.append("\(name) (left)")
        lostServerRanks.insert(member.info.rank)
        adopt(plan, summary: "\(name) left the job; \(moves(of: plan))", level: .notice)
        send(Message(header: Header(kind: .shutdown, sender: .manager, requestID: header.requestID)), to: peer)
    }
}
