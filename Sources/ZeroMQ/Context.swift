import CZeroMQ
import Synchronization

/// A libzmq context: the I/O threads and the registry of sockets.
///
/// Contexts are thread-safe in libzmq, so this type is `Sendable`; the sockets made from it are not.
///
/// Shut down in order, because `zmq_ctx_term` blocks until every socket of the context is closed:
/// 1. on each socket's owning thread, set ``SocketOption/linger`` (0 to drop unsent messages, or a
///    bound in milliseconds) and close the socket (``Socket/close()`` or let it go out of scope);
/// 2. then call ``terminate()``.
///
/// ``shutdown()`` helps when a socket's thread is blocked in a call: it makes every blocking call on
/// the context's sockets fail with ``ZMQError/Code/terminated``, after which that thread closes its
/// socket. A context is never terminated from `deinit` (that could block a random thread forever);
/// one that is dropped without ``terminate()`` leaks its I/O threads.
public final class Context: Sendable {
    /// Settings applied when the context is created.
    public struct Options: Sendable, Hashable {
        /// The number of libzmq I/O threads (one moves about 1 GB/s).
        public var ioThreads: Int
        /// The largest number of sockets open at once.
        public var maximumSockets: Int
        /// Whether new sockets accept IPv6 as well as IPv4.
        public var ipv6: Bool
        /// The CPUs libzmq's I/O threads may run on (`ZMQ_THREAD_AFFINITY_CPU_ADD`); empty: any.
        public var ioThreadCPUs: [Int]
        /// A number that starts the names of libzmq's threads (`ZMQ_THREAD_NAME_PREFIX`):
        /// `N/ZMQbg/IO/0` and `N/ZMQbg/Reaper`, so that the threads of several contexts in one
        /// process can be told apart (Linux keeps the first 15 bytes of a name); `nil`: libzmq's
        /// plain `ZMQbg/IO/0`.
        public var threadNamePrefix: Int?

        /// libzmq's defaults: 1 I/O thread, 1023 sockets, IPv4 only, any CPU, plain thread names.
        public init(
            ioThreads: Int = 1, maximumSockets: Int = 1023, ipv6: Bool = false, ioThreadCPUs: [Int] = [],
            threadNamePrefix: Int? = nil
        ) {
            self.ioThreads = ioThreads
            self.maximumSockets = maximumSockets
            self.ipv6 = ipv6
            self.ioThreadCPUs = ioThreadCPUs
            self.threadNamePrefix = threadNamePrefix
        }
    }

    /// libzmq documents its context as thread-safe: every `zmq_ctx_*` and `zmq_socket` call may be
    /// made from any thread. That is why the raw handle may cross threads (`@unchecked Sendable`);
    /// ``State`` makes sure nothing uses it after `zmq_ctx_term` freed it.
    private struct Handle: @unchecked Sendable {
        let pointer: UnsafeMutableRawPointer
    }

    private enum State {
        case open(Handle)
        case terminating(Handle)
        case terminated
    }

    // The handle lives inside the lock so that no call can use it once `zmq_ctx_term` has freed it.
    private let state: Mutex<State>

    /// The options the context was created with.
    public let options: Options

    /// Creates a context with the given options.
    public init(options: Options = Options()) throws(ZMQError) {
        let handle = try ZMQCall.handle("zmq_ctx_new", { zmq_ctx_new() })
        let settings: [(Int32, Int, String)] = [
            (ZMQ_IO_THREADS, options.ioThreads, "ZMQ_IO_THREADS"),
            (ZMQ_MAX_SOCKETS, options.maximumSockets, "ZMQ_MAX_SOCKETS"),
            (ZMQ_IPV6, options.ipv6 ? 1 : 0, "ZMQ_IPV6"),
        ] + options.ioThreadCPUs.map { (ZMQ_THREAD_AFFINITY_CPU_ADD, $0, "ZMQ_THREAD_AFFINITY_CPU_ADD") }
            + (options.threadNamePrefix.map { [(ZMQ_THREAD_NAME_PREFIX, $0, "ZMQ_THREAD_NAME_PREFIX")] } ?? [])
        for (name, value, label) in settings {
            guard let value = Int32(exactly: value), zmq_ctx_set(handle, name, value) == 0 else {
                let error = ZMQError(code: EINVAL, context: "zmq_ctx_set(\(label), \(value))")
                zmq_ctx_term(handle)
                throw error
            }
        }
        self.options = options
        self.state = Mutex(.open(Handle(pointer: handle)))
    }

    /// Makes every blocking call on this context's sockets, now and later, fail with
    /// ``ZMQError/Code/terminated``. Sockets must still be closed before ``terminate()`` returns.
    /// Does nothing once termination has begun.
    public func shutdown() {
        state.withLock { state in
            if case .open(let handle) = state {
                zmq_ctx_shutdown(handle.pointer)
            }
        }
    }

    /// Destroys the context, blocking until every socket made from it has been closed (and, for
    /// sockets with a positive linger, their pending messages sent or the linger expired).
    ///
    /// Calling it again, or from several threads, is harmless: only the first call terminates.
    public func terminate() throws(ZMQError) {
        let handle: Handle? = state.withLock { state in
            guard case .open(let handle) = state else { return nil }
            state = .terminating(handle)
            return handle
        }
        guard let handle else { return }
        do {
            try ZMQCall.run("zmq_ctx_term", { zmq_ctx_term(handle.pointer) })
        } catch {
            state.withLock { $0 = .open(handle) }
            throw error
        }
        state.withLock { $0 = .terminated }
    }

    /// Whether ``terminate()`` has completed.
    public var isTerminated: Bool {
        state.withLock { state in
            if case .terminated = state { return true }
            return false
        }
    }

    /// Creates a libzmq socket, failing with ``ZMQError/Code/terminated`` once termination began.
    func makeSocketHandle(type: Int32, label: String) throws(ZMQError) -> UnsafeMutableRawPointer {
        let result: Result<UnsafeMutableRawPointer, ZMQError> = state.withLock { state in
            guard case .open(let handle) = state else {
                return .failure(ZMQError(code: ETERM, context: "zmq_socket(\(label))"))
            }
            return Result { () throws(ZMQError) in
                try ZMQCall.handle("zmq_socket(\(label))", { zmq_socket(handle.pointer, type) })
            }
        }
        return try result.get()
    }
}
