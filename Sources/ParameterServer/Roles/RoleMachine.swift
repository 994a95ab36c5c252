import ZeroMQ

/// A role's logic (manager, server, worker) as a state machine: it takes events with the time
/// passed in and answers with the directives to carry out, in order. It does no I/O of its own, so
/// tests drive it with fake time and no network; a ``RoleShell`` runs it on a transport.
public protocol RoleMachine: AnyObject, SendableMetatype {
    /// Handles `event` at `context.now` and appends what to do to `directives` (which it never
    /// clears: a shell reuses one buffer for every event).
    func handle(_ event: NodeEvent, context: NodeContext, into directives: inout [NodeDirective])
    /// Runs `work`, queued for the node from another thread, as an event of its own at `context`:
    /// what it does is appended to `directives`.
    func execute(_ work: (Self) -> Void, context: NodeContext, into directives: inout [NodeDirective])
    /// The loop ended (after a stop directive or a fatal transport error): nothing can be sent any more.
    func stopped(error: (any Error)?)
    /// The socket nearly all of the machine's work arrives on for now (see
    /// ``TransportHandler/mainSocket``); asked before every wait.
    var mainSocket: MainSocket? { get }
}

extension RoleMachine {
    public var mainSocket: MainSocket? { nil }

    /// Handles `event` at `context` and returns the directives: for tests, which look at each.
    public func handle(_ event: NodeEvent, context: NodeContext) -> [NodeDirective] {
        var directives: [NodeDirective] = []
        handle(event, context: context, into: &directives)
        return directives
    }
}
