import Foundation
import Logging
import Synchronization
import ZeroMQ

/// The I/O thread of one node: it owns the node's ROUTER socket, one DEALER per peer it reaches, and
/// the handler (`Handler`, a role's ``RoleShell``), and it is the only thread that touches any of them.
///
/// Other threads talk to the handler through ``execute(_:)``: the closure is queued and runs on the
/// I/O thread, which a ``WakeUpSignal`` wakes. Sends never block (high-water marks are off, flow
/// control is the application's: bounded requests in flight), so the loop never stalls on a peer.
public final class ZMQTransport<Handler: TransportHandler>: Sendable {
    /// Work queued for the I/O thread.
    public typealias Work = @Sendable (Handler, any TransportIO) -> Void

    private struct Shared {
        var queue: [Work] = []
        /// Tasks that prefer this transport as their executor (see ``enqueue(_:)-ExecutorJob``).
        var jobs: [UnownedJob] = []
        var finished = false
        var finishError: String?
        var waiters: [CheckedContinuation<Void, Never>] = []
        var startError: (any Error & Sendable)?
    }

    private let shared = Mutex(Shared())
    private let wakeUp: WakeUpSignal
    private let context: Context
    private let bindEndpoint: String
    private let settings: TransportSettings
    private let logger: Logger
    private let boundEndpoint = Mutex<String?>(nil)
    private let makeHandler: @Sendable () -> Handler
    /// The I/O thread's id, so that work it queues for itself needs no wake-up signal.
    private let ioThread = Atomic<UInt>(0)
    /// Set when another thread queues work or a job; the loop takes it at every full poll.
    private let foreignWork = Atomic<Bool>(false)

    /// Creates a transport that will bind its ROUTER to `bindEndpoint` (`tcp://127.0.0.1:0` picks a
    /// free port) and run the handler that `makeHandler` makes on its own thread once ``start()`` is called.
    public init(
        context: Context, bind bindEndpoint: String, settings: TransportSettings = TransportSettings(),
        logger: Logger, makeHandler: @escaping @Sendable () -> Handler
    ) throws {
        self.context = context
        self.bindEndpoint = bindEndpoint
        self.settings = settings
        self.logger = logger
        self.makeHandler = makeHandler
        self.wakeUp = try WakeUpSignal()
    }

    /// Binds the ROUTER and starts the I/O thread (kept on ``TransportSettings/cpu`` when set);
    /// returns the endpoint actually bound. Throws a ``ZMQError``, or a ``ThreadAffinityError``
    /// when the CPU is not there.
    public func start() throws -> String {
        let ready = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in
            self.runLoop(ready: ready)
        }
        thread.stackSize = 8 << 20
        thread.start()
        ready.wait()
        if let error = shared.withLock({ $0.startError }) { throw error }
        return boundEndpoint.withLock { $0 } ?? bindEndpoint
    }

    /// Queues `work` to run on the I/O thread with the handler, and returns true; returns false, and
    /// runs nothing, once the loop has ended. Accepted work always runs, even when the loop is stopping.
    @discardableResult
    public func execute(_ work: @escaping Work) -> Bool {
        let (accepted, wasEmpty) = shared.withLock { state -> (Bool, Bool) in
            guard !state.finished else { return (false, false) }
            state.queue.append(work)
            return (true, state.queue.count + state.jobs.count == 1)
        }
        if wasEmpty { signalUnlessOnIOThread() }
        return accepted
    }

    /// Work queued behind other work needs no signal of its own: the loop takes the whole queue
    /// after every poll, so the earlier signal covers it — one eventfd write per burst instead of
    /// per request. Work the I/O thread queues for itself needs none either: the loop checks the
    /// queue before it blocks.
    private func signalUnlessOnIOThread() {
        if ioThread.load(ordering: .relaxed) != Self.currentThreadID {
            foreignWork.store(true, ordering: .relaxed)
            wakeUp.signal()
        }
    }

    private static var currentThreadID: UInt {
        #if canImport(Glibc)
        return UInt(pthread_self())
        #else
        return UInt(bitPattern: pthread_self())
        #endif
    }

    /// Asks the loop to stop after flushing what is queued.
    public func stop() {
        execute { _, io in io.stop() }
    }

    /// Waits until the I/O thread has ended.
    public func waitUntilFinished() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = shared.withLock { state -> Bool in
                if state.finished { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Whether the I/O thread has ended.
    public var isFinished: Bool { shared.withLock { $0.finished } }

    // MARK: - The I/O thread

    /// The socket the loop may wait on alone at `now`: the handler's ``TransportHandler/mainSocket``,
    /// except a DEALER within a tick of work queued by other threads, so that an application issuing
    /// requests from another thread is not held up behind the replies.
    private func waitableSocket(
        of handler: Handler, at now: ContinuousClock.Instant, foreignWorkSeenAt: ContinuousClock.Instant
    ) -> MainSocket? {
        switch handler.mainSocket {
        case .router: .router
        case .dealer(let endpoint):
            // The flag is set by work queued since the last full poll, which has not taken it yet.
            foreignWork.load(ordering: .relaxed) || now < foreignWorkSeenAt + settings.tickInterval ? nil : .dealer(endpoint)
        case nil: nil
        }
    }

    private func runLoop(ready: DispatchSemaphore) {
        ThreadName.setCurrent(settings.threadName)
        if settings.batchScheduling, let code = ThreadScheduling.useBatchPolicyForCurrentThread() {
            logger.warning("\(settings.threadName) keeps the default scheduling policy: SCHED_BATCH refused (\(String(cString: strerror(code))))")
        }
        // The thread inherited its creator's policy, which may be another node's SCHED_BATCH.
        if !settings.batchScheduling, ThreadScheduling.currentThreadUsesBatchPolicy,
            let code = ThreadScheduling.useDefaultPolicyForCurrentThread()
        {
            logger.warning("\(settings.threadName) keeps SCHED_BATCH: the default policy was refused (\(String(cString: strerror(code))))")
        }
        let io: SocketIO
        do {
            if let cpu = settings.cpu { try ThreadAffinity.pinCurrentThread(to: cpu) }
            io = try SocketIO(context: context, bind: bindEndpoint, settings: settings, logger: logger)
        } catch let error as ZMQError {
            fail(toStart: error, ready: ready)
            return
        } catch let error as ThreadAffinityError {
            fail(toStart: error, ready: ready)
            return
        } catch {
            fail(toStart: ZMQError(code: EINVAL, context: "\(error)"), ready: ready)
            return
        }
        boundEndpoint.withLock { $0 = io.localEndpoint }
        ready.signal()

        ioThread.store(Self.currentThreadID, ordering: .relaxed)
        let handler = makeHandler()
        handler.start(io: io)
        var loopError: (any Error)?
        var nextTick = io.now + settings.tickInterval
        // While local work keeps coming (an application on this thread issuing requests and resuming),
        // run it without polling the sockets every time: a poll is several system calls, and an
        // asynchronous step of the application costs one loop iteration. Sockets are still polled at
        // least every `pollEvery` iterations.
        let pollEvery = 8
        var iterationsSincePoll = 0
        // A handler that waits on its main socket alone has every socket and the wake-up signal
        // looked at, without blocking, by this time at the latest (a full poll).
        var everythingDue = io.now
        // When a full poll last found work that other threads had queued (a DEALER is not waited on
        // alone within a tick of that), and whether the main socket was not there to wait on (until
        // the next full poll).
        var foreignWorkSeenAt = io.now
        var mainSocketMissing = false
        var work: [Work] = []
        var jobs: [UnownedJob] = []
        do {
            // The clock is read once per turn of the loop, and once more after the work for the tick.
            var now = io.now
            while !io.stopRequested {
                let pending = shared.withLock { !$0.queue.isEmpty || !$0.jobs.isEmpty }
                if pending && iterationsSincePoll < pollEvery {
                    iterationsSincePoll += 1
                } else if !pending, !mainSocketMissing, now < everythingDue,
                    let socket = waitableSocket(of: handler, at: now, foreignWorkSeenAt: foreignWorkSeenAt)
                {
                    mainSocketMissing = try !io.receive(
                        waitingOn: socket, timeout: min(nextTick, everythingDue) - now,
                        interrupted: { foreignWork.load(ordering: .relaxed) },
                        drained: { handler.drained(io: io) }
                    ) { frames, peer in handler.received(frames, from: peer, io: io) }
                } else {
                    iterationsSincePoll = 0
                    // Without blocking when the next wait is on the main socket alone.
                    let waitsOnMainSocketNext =
                        !mainSocketMissing && waitableSocket(of: handler, at: now, foreignWorkSeenAt: foreignWorkSeenAt) != nil
                    let timeout = pending || waitsOnMainSocketNext ? .zero : max(.zero, nextTick - now)
                    try io.pollOnce(wakeUp: wakeUp, timeout: timeout) { frames, peer in
                        handler.received(frames, from: peer, io: io)
                    }
                    handler.drained(io: io)
                    if io.wakeUpReady { wakeUp.drain() }
                    let polledAt = io.now
                    everythingDue = polledAt + settings.tickInterval
                    if foreignWork.exchange(false, ordering: .relaxed) { foreignWorkSeenAt = polledAt }
                    mainSocketMissing = false
                }
                // The queues are swapped with emptied ones, so that taking them allocates nothing.
                shared.withLock { state in
                    swap(&work, &state.queue)
                    swap(&jobs, &state.jobs)
                }
                for item in work { item(handler, io) }
                for job in jobs { job.runSynchronously(on: asUnownedTaskExecutor()) }
                work.removeAll(keepingCapacity: true)
                jobs.removeAll(keepingCapacity: true)
                now = io.now
                if now >= nextTick {
                    handler.tick(io: io)
                    nextTick = now + settings.tickInterval
                }
            }
        } catch {
            loopError = error
            logger.error("I/O loop of \(io.localEndpoint) failed: \(error)")
        }
        // Refuse new work, then run what was accepted so no caller waits forever on dropped work.
        let (leftover, leftoverJobs) = shared.withLock { state -> ([Work], [UnownedJob]) in
            state.finished = true
            defer {
                state.queue.removeAll()
                state.jobs.removeAll()
            }
            return (state.queue, state.jobs)
        }
        for item in leftover { item(handler, io) }
        for job in leftoverJobs { runElsewhere(job) }
        io.close()
        handler.stopped(error: loopError)
        finish(error: loopError.map { "\($0)" })
    }

    private func fail(toStart error: any Error & Sendable, ready: DispatchSemaphore) {
        shared.withLock { $0.startError = error }
        finish(error: nil)
        ready.signal()
    }

    private func finish(error: String?) {
        let waiters = shared.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.finished = true
            state.finishError = error
            state.queue.removeAll()
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

extension ZMQTransport: TaskExecutor {
    /// Runs a task's jobs on the I/O thread. An application that runs under
    /// `withTaskExecutorPreference(transport)` issues requests and resumes after replies on the
    /// thread that owns the sockets, so a round trip costs no thread hand-off at all — the shape of
    /// a C client that sends and receives on one thread. Jobs arriving after the loop ended run on
    /// a global queue so that no task is lost.
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let (accepted, wasEmpty) = shared.withLock { state -> (Bool, Bool) in
            guard !state.finished else { return (false, false) }
            state.jobs.append(job)
            return (true, state.queue.count + state.jobs.count == 1)
        }
        if !accepted {
            runElsewhere(job)
        } else if wasEmpty {
            signalUnlessOnIOThread()
        }
    }

    private func runElsewhere(_ job: UnownedJob) {
        let executor = asUnownedTaskExecutor()
        DispatchQueue.global().async { job.runSynchronously(on: executor) }
    }
}
