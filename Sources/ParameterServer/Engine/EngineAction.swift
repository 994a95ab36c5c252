/// How a task ended.
public enum TaskOutcome: Hashable, Sendable {
    /// Every server answered the request.
    case succeeded
    /// The request failed (an error reply, a deadline, a cancellation). A failed task still counts as
    /// finished for ordering, so the tasks behind it do not stall; its waiters see the error.
    case failed(WireError)
}

/// What the shell around a ``TaskEngine`` must do next.
public enum EngineAction: Hashable, Sendable {
    /// Send the task's request now.
    case start(Timestamp)
    /// The task finished: resume everything waiting for it.
    case complete(Timestamp, TaskOutcome)
    /// Run the callback the task carried.
    case runCallback(CallbackID, timestamp: Timestamp, outcome: TaskOutcome)
}
