import Foundation
import Logging
import Synchronization

/// An ``InMemoryNetwork`` on a thread of its own, so that ``Worker`` handles — the API an
/// application uses — can drive the real manager, server and worker logic from any task, under the
/// network's fake clock.
///
/// The thread plays the part of every node's I/O thread: it runs the work queued by the workers'
/// calls and by ``run(_:)`` one item after another, and after each item delivers every message
/// that is due (see ``InMemoryNetwork/deliverAll(shuffled:limit:)``). Time stands still unless a
/// caller advances it (`run { $0.advance(by: …) }`), so heartbeats and deadlines pass only when a
/// test says so. The order in which items from several tasks reach the thread is up to the tasks'
/// scheduling; for runs that replay from a seed, drive the network directly on one thread.
public final class InMemoryNetworkThread: Sendable {
    /// Work for the thread, with the network.
    public typealias Job = @Sendable (InMemoryNetwork) -> Void

    private struct Queue {
        var jobs: [Job] = []
        var finished = false
        /// Worker nodes whose logic has stopped (told to by the manager, or killed).
        var stoppedWorkers: Set<String> = []
    }

    /// The network, touched only on the thread.
    private final class Owned: @unchecked Sendable {
        let network: InMemoryNetwork
        var workers: [String] = []
        init(_ network: InMemoryNetwork) { self.network = network }
    }

    private let queue = Mutex(Queue())
    private let wakeUp = DispatchSemaphore(value: 0)
    private let owned: Owned
    private let shuffled: Bool

    /// Starts the thread with an empty network whose interleavings `seed` decides (links picked at
    /// random among those with a message due when `shuffled`).
    public init(seed: UInt64 = 1, shuffled: Bool = false) {
        owned = Owned(InMemoryNetwork(seed: seed))
        self.shuffled = shuffled
        let thread = Thread { [self] in loop() }
        thread.name = "zps-in-memory-network"
        thread.start()
    }

    /// Runs `body` on the thread with the network (add nodes, advance the clock, kill a node, read
    /// a result), then delivers what it caused, and returns `body`'s result.
    public func run<Result: Sendable>(_ body: @escaping @Sendable (InMemoryNetwork) -> Result) async -> Result {
        await withCheckedContinuation { continuation in
            let accepted = enqueue { network in continuation.resume(returning: body(network)) }
            precondition(accepted, "the in-memory network thread has stopped")
        }
    }

    /// Adds a worker node at `endpoint` with `settings`, and returns the application's handle on it,
    /// as a ``WorkerNode`` process gives it to its application.
    public func addWorker(settings: NodeSettings, endpoint: String, logger: Logger) async -> Worker {
        let watermark = FinishedWatermark()
        await run { [owned] network in
            network.add(WorkerCore(settings: settings, outcome: NodeOutcome(), watermark: watermark, logger: logger), endpoint: endpoint)
            owned.workers.append(endpoint)
        }
        return Worker(transport: Loop(thread: self, endpoint: endpoint), settings: settings, watermark: watermark)
    }

    /// Ends the thread once the work queued so far has run. Later calls of workers on it fail
    /// with `shuttingDown`.
    public func stop() {
        let wasRunning = queue.withLock { state -> Bool in
            defer { state.finished = true }
            return !state.finished
        }
        if wasRunning { wakeUp.signal() }
    }

    private func enqueue(_ job: @escaping Job) -> Bool {
        let accepted = queue.withLock { state -> Bool in
            guard !state.finished else { return false }
            state.jobs.append(job)
            return true
        }
        if accepted { wakeUp.signal() }
        return accepted
    }

    private func loop() {
        while true {
            wakeUp.wait()
            let (jobs, finished) = queue.withLock { state -> ([Job], Bool) in
                defer { state.jobs.removeAll() }
                return (state.jobs, state.finished)
            }
            for job in jobs {
                job(owned.network)
                owned.network.deliverAll(shuffled: shuffled)
            }
            let stopped = owned.workers.filter { !owned.network.isRunning($0) }
            queue.withLock { $0.stoppedWorkers.formUnion(stopped) }
            if finished, queue.withLock({ $0.jobs.isEmpty }) { return }
        }
    }

    /// A worker's loop: its calls run on the network's thread, on the worker's node.
    private struct Loop: WorkerLoop {
        let thread: InMemoryNetworkThread
        let endpoint: String

        func execute(_ work: @escaping WorkerLoop.Work) -> Bool {
            guard !thread.queue.withLock({ $0.stoppedWorkers.contains(endpoint) }) else { return false }
            return thread.enqueue { [endpoint] network in
                network.execute(on: endpoint, as: WorkerCore.self, work)
            }
        }

        func stop() {
            guard !thread.queue.withLock({ $0.stoppedWorkers.contains(endpoint) }) else { return }
            _ = thread.enqueue { [endpoint] network in network.execute(on: endpoint) { _, io in io.stop() } }
        }
    }
}
