import CZeroMQ
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Waits on sockets through their ``Socket/fileDescriptor`` and on plain file descriptors with one
/// `poll(2)`, the way libzmq documents for foreign event loops.
///
/// `zmq_poll` reads `ZMQ_EVENTS` of every socket on every call, which costs a `getpid` and a `poll`
/// system call per socket, twice when it blocks. This poller makes one `poll` call and keeps, per
/// socket, whether it **may be readable**; the owner does the rest of the bookkeeping:
///
/// - A socket's descriptor only signals that libzmq has commands for it, and only once: a socket is
///   known to be empty only after a non-blocking receive returned nothing (report it with
///   ``noteDrained(_:)``).
/// - Any send on a socket may consume that signal, so after one call ``noteActivity(_:)``.
/// - A new socket may already hold messages; it starts as possibly readable.
///
/// ```swift
/// var poller = DescriptorPoller()
/// let incoming = try poller.add(router)
/// while running {
///     try poller.wait(timeoutMilliseconds: 100)   // returns at once while a socket may be readable
///     if poller.mayBeReadable(incoming) {
///         while let message = try router.receiveMultipart(dontWait: true) { handle(message) }
///         poller.noteDrained(incoming)
///     }
/// }
/// ```
///
/// Like ``Poller``, it keeps descriptors, not sockets: the caller keeps every added socket open while
/// it polls, and calls ``removeAll()`` before closing one.
public struct DescriptorPoller {
    /// Names one socket or descriptor added to the poller.
    public struct Item: Hashable, Sendable {
        /// The position in the order of `add` calls.
        public let index: Int
    }

    private var descriptors: [pollfd] = []
    /// Per item: nil for a plain descriptor; for a socket, whether it may hold a message.
    private var socketMayBeReadable: [Bool?] = []

    /// An empty poller.
    public init() {}

    /// The number of sockets and descriptors added.
    public var count: Int { descriptors.count }

    /// Watches `socket` for incoming messages. It starts as possibly readable.
    @discardableResult
    public mutating func add(_ socket: borrowing Socket) throws(ZMQError) -> Item {
        let descriptor = try socket.fileDescriptor
        return append(descriptor, socket: true)
    }

    /// Watches a file descriptor for being readable.
    @discardableResult
    public mutating func add(fileDescriptor: Int32) -> Item {
        append(fileDescriptor, socket: false)
    }

    /// Watches `signal` for being signalled.
    @discardableResult
    public mutating func add(_ signal: WakeUpSignal) -> Item {
        add(fileDescriptor: signal.fileDescriptor)
    }

    private mutating func append(_ descriptor: Int32, socket: Bool) -> Item {
        descriptors.append(pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0))
        socketMayBeReadable.append(socket ? true : nil)
        return Item(index: descriptors.count - 1)
    }

    /// Forgets every socket and descriptor.
    public mutating func removeAll() {
        descriptors.removeAll(keepingCapacity: true)
        socketMayBeReadable.removeAll(keepingCapacity: true)
    }

    /// Whether any socket may be readable, so that a wait would not block.
    public var anySocketMayBeReadable: Bool {
        socketMayBeReadable.contains { $0 == true }
    }

    /// Records that a send (or any other call) on the socket `item` may have consumed its signal.
    public mutating func noteActivity(_ item: Item) {
        if socketMayBeReadable[item.index] != nil { socketMayBeReadable[item.index] = true }
    }

    /// Records that a non-blocking receive on the socket `item` found nothing: its descriptor will
    /// signal the next message.
    public mutating func noteDrained(_ item: Item) {
        if socketMayBeReadable[item.index] != nil { socketMayBeReadable[item.index] = false }
    }

    /// Waits until a descriptor is readable or `timeoutMilliseconds` passed (0: just check; -1:
    /// forever). It does not wait while a socket may be readable. Afterwards a socket whose
    /// descriptor signalled is possibly readable, and ``mayBeReadable(_:)`` says which items to
    /// look at. A call interrupted by a signal is restarted.
    public mutating func wait(timeoutMilliseconds: Int) throws(ZMQError) {
        let timeout = anySocketMayBeReadable ? 0 : Int32(clamping: timeoutMilliseconds)
        let count = nfds_t(descriptors.count)
        while true {
            let result = descriptors.withUnsafeMutableBufferPointer { poll($0.baseAddress, count, timeout) }
            if result >= 0 { break }
            let code = errno
            if code == EINTR { continue }
            throw ZMQError(code: code, context: "poll(\(count) descriptors, \(timeout) ms)")
        }
        for index in descriptors.indices where descriptors[index].revents != 0 {
            if socketMayBeReadable[index] != nil { socketMayBeReadable[index] = true }
        }
    }

    /// For a socket, whether it may hold a message; for a plain descriptor, whether the last
    /// ``wait(timeoutMilliseconds:)`` found it readable (or in error: read it to find out).
    public func mayBeReadable(_ item: Item) -> Bool {
        socketMayBeReadable[item.index] ?? (descriptors[item.index].revents != 0)
    }
}

// Holds raw descriptors of sockets that only their owning thread may use.
@available(*, unavailable)
extension DescriptorPoller: Sendable {}
