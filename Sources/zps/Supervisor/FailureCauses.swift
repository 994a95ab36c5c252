/// The failures `zps run` notices while a job runs, ranked so that the summary names the root cause
/// first. What is seen first is often a consequence: when a server stops answering, the workers exit
/// (status 1) well before the manager's missed-heartbeat report reaches the supervisor, and that
/// report is the cause.
struct FailureCauses {
    /// How much a failure says about why the job failed; the highest, then the earliest, is the root cause.
    enum Weight: Int, Comparable {
        /// A consequence: a process that exited with a failure status of its own accord, or the
        /// manager reporting that it was asked to stop.
        case consequence = 1
        /// A cause: the manager's report (a node failed, heartbeats stopped, a deadline passed), a
        /// process killed by a signal the supervisor did not send, a node that could not start.
        case cause = 2
        /// A process found stopped (SIGSTOP): the others' timeouts, missed heartbeats included, follow from it.
        case stoppedProcess = 3
        /// The user stopped the job (Ctrl-C, SIGTERM).
        case interruption = 4

        static func < (lhs: Weight, rhs: Weight) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    private var noticed: [(reason: String, weight: Weight)] = []

    var isEmpty: Bool { noticed.isEmpty }

    /// Records `reason` unless it was recorded already.
    mutating func note(_ reason: String, _ weight: Weight) {
        guard !noticed.contains(where: { $0.reason == reason }) else { return }
        noticed.append((reason, weight))
    }

    /// The failure with the highest weight, the earliest of equals.
    var rootCause: String? {
        noticed.enumerated().max { a, b in
            a.element.weight != b.element.weight ? a.element.weight < b.element.weight : a.offset > b.offset
        }?.element.reason
    }

    /// Every failure, the root cause first, the others in the order they came.
    var ordered: [String] {
        guard let root = rootCause else { return [] }
        return [root] + noticed.map(\.reason).filter { $0 != root }
    }
}
