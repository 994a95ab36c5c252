import CZeroMQ

/// Waits until any of a set of sockets and file descriptors is ready (`zmq_poll`).
///
/// A poller lives on the I/O thread that owns its sockets. It keeps the raw handle of each socket
/// added, not the socket itself (sockets are non-copyable), so **the caller must keep every added
/// socket open, and every added descriptor valid, for as long as it polls**: before closing one,
/// ``removeAll()`` and add the rest again, or drop the poller.
///
/// ```swift
/// var poller = Poller()
/// let incoming = poller.add(router, events: .readable)
/// let wakeUp = poller.add(signal)
/// while running {
///     try poller.poll(timeoutMilliseconds: 100)
///     if poller.readyEvents(wakeUp).contains(.readable) { signal.drain(); /* take queued work */ }
///     if poller.readyEvents(incoming).contains(.readable) { /* receive until nil */ }
/// }
/// ```
public struct Poller {
    /// Names one socket or descriptor added to a poller.
    public struct Item: Hashable, Sendable {
        /// The position in the order of `add` calls.
        public let index: Int
    }

    private var items: [zmq_pollitem_t] = []

    /// An empty poller.
    public init() {}

    /// The number of sockets and descriptors added.
    public var count: Int { items.count }

    /// Watches `socket` for `events`. See the type's note on lifetime.
    @discardableResult
    public mutating func add(_ socket: borrowing Socket, events: PollEvents) -> Item {
        append(zmq_pollitem_t(socket: socket.handle, fd: -1, events: events.rawValue, revents: 0))
    }

    /// Watches a file descriptor for `events`. See the type's note on lifetime.
    @discardableResult
    public mutating func add(fileDescriptor: Int32, events: PollEvents) -> Item {
        append(zmq_pollitem_t(socket: nil, fd: fileDescriptor, events: events.rawValue, revents: 0))
    }

    /// Watches `signal` for being signalled (readable). The caller keeps `signal` alive while polling.
    @discardableResult
    public mutating func add(_ signal: WakeUpSignal) -> Item {
        add(fileDescriptor: signal.fileDescriptor, events: .readable)
    }

    private mutating func append(_ item: zmq_pollitem_t) -> Item {
        items.append(item)
        return Item(index: items.count - 1)
    }

    /// Changes what `item` is watched for, e.g. adds ``PollEvents/writable`` while a send queue is
    /// blocked and removes it once the queue is empty (an always-writable socket would spin).
    public mutating func setEvents(_ events: PollEvents, for item: Item) {
        items[item.index].events = events.rawValue
    }

    /// Forgets every socket and descriptor.
    public mutating func removeAll() {
        items.removeAll(keepingCapacity: true)
    }

    /// Waits until at least one item is ready or `timeoutMilliseconds` passed (0: just check;
    /// -1: wait forever) and returns how many are ready; ``readyEvents(_:)`` says which.
    ///
    /// A poll interrupted by a signal is restarted with the full timeout. Fails with
    /// ``ZMQError/Code/terminated`` once the sockets' context is shutting down.
    @discardableResult
    public mutating func poll(timeoutMilliseconds: Int) throws(ZMQError) -> Int {
        let count = items.count
        let result = try ZMQCall.run("zmq_poll(\(count) items, \(timeoutMilliseconds) ms)") {
            items.withUnsafeMutableBufferPointer { zmq_poll($0.baseAddress, Int32(count), timeoutMilliseconds) }
        }
        return Int(result)
    }

    /// What `item` was found ready for by the last ``poll(timeoutMilliseconds:)``.
    public func readyEvents(_ item: Item) -> PollEvents {
        PollEvents(rawValue: items[item.index].revents)
    }
}

// Holds raw socket handles that only their owning thread may use.
@available(*, unavailable)
extension Poller: Sendable {}
