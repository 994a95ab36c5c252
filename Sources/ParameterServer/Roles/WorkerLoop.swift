/// The thread a ``Worker``'s calls run on, with the worker's logic (``WorkerCore``) in its
/// ``RoleShell``: a node's ZeroMQ I/O thread (``ZMQTransport``), or the thread of an in-memory
/// network (``InMemoryNetworkThread``), where the same calls meet the real manager and server logic
/// under a fake clock.
public protocol WorkerLoop: Sendable {
    /// Work for the loop: it runs on the loop's thread as an event of the worker's logic, and the
    /// shell carries out what it sends.
    typealias Work = @Sendable (WorkerCore) -> Void
    /// Queues `work` and returns true; returns false, and runs nothing, once the loop has ended.
    @discardableResult
    func execute(_ work: @escaping Work) -> Bool
    /// Asks the loop to stop after what is queued.
    func stop()
}

extension ZMQTransport: WorkerLoop where Handler == RoleShell<WorkerCore> {
    public func execute(_ work: @escaping WorkerLoop.Work) -> Bool {
        execute { (shell: Handler, io: any TransportIO) in shell.execute(io: io, work) }
    }
}
