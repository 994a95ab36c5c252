/// Names a piece of code the shell runs when a task completes, so that work can be chained onto a
/// task (e.g. "when this pull arrives, compute the next gradient") without the engine holding closures.
public struct CallbackID: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The shell's identifier for the callback.
    public var rawValue: UInt64
    /// Wraps an identifier.
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// Wraps an identifier.
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public var description: String { "callback \(rawValue)" }
}

/// What a worker submits to its ``TaskEngine``: one push or pull (or any request) on one table.
///
/// The engine does not look at the request itself; the shell keeps it under the timestamp the engine
/// returns and sends it when the engine says ``EngineAction/start(_:)``.
public struct EngineTask: Hashable, Sendable {
    /// The table the task addresses; its model applies unless ``consistency`` overrides it.
    public var table: UInt32
    /// Tasks that must finish before this one starts (in addition to what the model demands).
    /// Every entry must be a timestamp the engine has already issued.
    public var after: [Timestamp]
    /// Overrides the table's model for this task only.
    public var consistency: ConsistencyModel?
    /// The iteration the task belongs to; required under ``ConsistencyModel/bsp``, where it must not
    /// decrease from one task of the table to the next.
    public var iteration: Int64?
    /// Run by the shell when the task completes (``EngineAction/runCallback(_:timestamp:outcome:)``).
    public var callback: CallbackID?

    /// Describes a task.
    public init(
        table: UInt32,
        after: [Timestamp] = [],
        consistency: ConsistencyModel? = nil,
        iteration: Int64? = nil,
        callback: CallbackID? = nil
    ) {
        self.table = table
        self.after = after
        self.consistency = consistency
        self.iteration = iteration
        self.callback = callback
    }
}
