import CZeroMQ
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file descriptor that any thread can make readable, to wake an I/O thread blocked in
/// ``Poller/poll(timeoutMilliseconds:)``.
///
/// The I/O thread owns the sockets; other threads append work to a lock-protected queue and call
/// ``signal()``. The I/O thread polls the signal next to its sockets and, when it is readable,
/// calls ``drain()`` *before* emptying the queue, so a signal that arrives while it works is never
/// lost. Signals coalesce: many calls to ``signal()`` wake the thread once.
///
/// On Linux this is an `eventfd`; elsewhere a non-blocking pipe.
public final class WakeUpSignal: Sendable {
    /// The descriptor to poll for readability.
    public let fileDescriptor: Int32
    private let writeDescriptor: Int32

    /// Creates an unsignalled wake-up signal. Fails with the `errno` of `eventfd`/`pipe`.
    public init() throws(ZMQError) {
        #if os(Linux)
        let descriptor = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard descriptor >= 0 else { throw ZMQError(code: errno, context: "eventfd") }
        fileDescriptor = descriptor
        writeDescriptor = descriptor
        #else
        var descriptors: [Int32] = [-1, -1]
        guard pipe(&descriptors) == 0 else { throw ZMQError(code: errno, context: "pipe") }
        for descriptor in descriptors {
            _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
            _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        }
        fileDescriptor = descriptors[0]
        writeDescriptor = descriptors[1]
        #endif
    }

    deinit {
        close(fileDescriptor)
        if writeDescriptor != fileDescriptor { close(writeDescriptor) }
    }

    /// Makes ``fileDescriptor`` readable. Safe from any thread, never blocks.
    public func signal() {
        #if os(Linux)
        var one: UInt64 = 1
        let size = MemoryLayout<UInt64>.size
        #else
        var one: UInt8 = 1
        let size = 1
        #endif
        // EAGAIN means the counter (or pipe) is full, i.e. already signalled: nothing to do.
        while write(writeDescriptor, &one, size) < 0 && errno == EINTR {}
    }

    /// Makes ``fileDescriptor`` unreadable again; called by the polling thread. Never blocks.
    public func drain() {
        var buffer: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        let size = MemoryLayout.size(ofValue: buffer)
        while true {
            let result = read(fileDescriptor, &buffer, size)
            if result > 0 {
                #if os(Linux)
                return  // one read resets an eventfd counter to zero
                #else
                continue
                #endif
            }
            if result < 0 && errno == EINTR { continue }
            return  // EAGAIN: empty
        }
    }
}
