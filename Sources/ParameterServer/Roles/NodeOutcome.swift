import Synchronization

/// How a node's run ended, written on its I/O thread and read by the process after the thread ended.
public final class NodeOutcome: Sendable {
    private let state = Mutex<(failure: String?, jobFailure: String?, summary: String?)>((nil, nil, nil))

    /// Creates an outcome that has neither failed nor finished.
    public init() {}

    /// Records the first failure (later ones are consequences and are dropped), unless the manager
    /// already stopped the node because the job failed elsewhere: what fails then is a consequence.
    public func fail(_ message: String) {
        state.withLock { if $0.failure == nil && $0.jobFailure == nil { $0.failure = message } }
    }

    /// Records that the manager stopped the node because the job failed, for `reason`, unless the
    /// node had failed before (then its own failure is likely the reason).
    public func jobFailed(_ reason: String) {
        state.withLock { if $0.failure == nil && $0.jobFailure == nil { $0.jobFailure = reason } }
    }

    /// Why the manager stopped the job, when it stopped this node for a failure elsewhere.
    public var jobFailure: String? { state.withLock { $0.jobFailure } }

    /// Records a summary of a successful run.
    public func succeed(_ summary: String) {
        state.withLock { $0.summary = summary }
    }

    /// The first failure, if any.
    public var failure: String? { state.withLock { $0.failure } }

    /// The summary, if any.
    public var summary: String? { state.withLock { $0.summary } }
}
