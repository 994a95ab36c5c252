import Logging

/// A server asked to stop while the job runs (SIGTERM) leaves the job rather than ending it
/// (docs/FAULT-TOLERANCE.md, "Leaving"): it asks the manager to take it out
/// (``MessageKind/leave``) and serves on until the manager has moved its ranges to their replicas
/// and tells it to stop. A server whose ranges have no other copy (`replication: 0`) cannot leave:
/// it stops as before, and the job with it.
extension ServerCore {
    /// How long a server the manager was too busy to take out (a join or a re-protection under way)
    /// waits before it asks again.
    static let leaveRetryInterval: Duration = .milliseconds(100)

    /// Asked to stop (SIGTERM or SIGINT): leaves the job when it is listed in one, else stops with
    /// the signal as its failure. Asking twice changes nothing.
    public func leaveOrStop() {
        guard !shuttingDown, leaving == nil else { return }
        guard let table = nodeTable, table.node(link.nodeID) != nil, listedSince != nil else {
            return stop(failing: NodeFailure("\(link.settings.name) was asked to stop (signal)"))
        }
        leaving = (now, nil)
        logger.notice("\(link.settings.name) was asked to stop (signal): it leaves the job once the manager has moved its ranges to their replicas")
        link.requestLeave(into: &directives)
    }

    /// The manager refused to take this server out: busy, it is asked again shortly; with the job
    /// ending, the job's shutdown stops it; otherwise (no other copy of its ranges) it stops now.
    func leaveRefused(_ code: ErrorCode, _ reason: String) {
        guard let since = leaving?.since else { return }
        // The refusal's text as the manager wrote it, without the code and field it starts with.
        let prefix = "\(code.name) at k: "
        let reason = reason.hasPrefix(prefix) ? String(reason.dropFirst(prefix.count)) : reason
        logger.info("\(link.settings.name): the manager did not take it out of the job: \(reason)")
        switch code {
        case .busy:
            leaving = (since, now + Self.leaveRetryInterval)
        case .shuttingDown:
            logger.info("\(link.settings.name) stops with the job: \(reason)")
        default:
            stop(failing: NodeFailure("\(link.settings.name) was asked to stop (signal) and cannot leave the job: \(reason)"))
        }
    }

    /// Asks again once a refusal's wait is over; stops, failing, when the manager has not taken
    /// this server out within the shutdown deadline.
    func tickLeave() {
        guard let (since, askAgainAt) = leaving else { return }
        let limit = link.settings.deadlines.shutdown
        if now - since > limit {
            leaving = nil
            return stop(failing: NodeFailure(
                "\(link.settings.name) was asked to stop (signal) and the manager did not take it out of the job within \(limit.secondsText)"))
        }
        if let askAgainAt, now >= askAgainAt {
            leaving = (since, nil)
            link.requestLeave(into: &directives)
        }
    }
}
