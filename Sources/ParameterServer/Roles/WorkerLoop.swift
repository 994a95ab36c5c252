/// The thread a ``Worker``'s calls run on, with the worker's logic (``WorkerCore``) and its I/O:
/// a node's ZeroMQ I/O thread (``ZMQTransport``), or the thread of an in-memory network
/// (``InMemoryNetworkThread``), where the same calls meet the real manager and server logic under
/// a fake clock.
public protocol WorkerLoop: Sendable {
    /// Work for the loop: it runs on the loop's thread with the worker's logic and I/O.
    typealias Work = @Sendable (WorkerCore, any TransportIO) -> Void
    /// Queues `work` and returns true; returns false, and runs nothing, once the loop has ended.
    @discardableResult
    func execute(_ work: @escaping Work) -> Bool
    /// Asks the loop to stop after what is queued.
    func stop()
}

extension ZMQTransport: WorkerLoop where Handler == WorkerCore {}
