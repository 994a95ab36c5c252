import Synchronization

/// The bytes of messages sent through a socket that libzmq still holds: queued in a pipe, or being
/// written out by its I/O thread.
///
/// ZeroMQ's high-water marks count messages, not bytes, and libzmq offers no way to ask how much
/// a pipe holds. A frame sent without copying (above ``Socket/zeroCopyThreshold`` bytes) with a
/// ledger is counted here when it is queued and taken off when libzmq releases it (it was written
/// to the connection, or dropped with a pipe that closed). The count is exact for those frames;
/// smaller, copied frames are not counted (the message high-water mark bounds them).
///
/// A ledger is shared by the thread that sends and libzmq's I/O thread that releases, so its count
/// is atomic.
public final class SendLedger: Sendable {
    private let bytes = Atomic<Int>(0)
    private let everQueued = Atomic<Int>(0)

    /// Creates an empty ledger.
    public init() {}

    /// The bytes of zero-copy frames sent with this ledger that libzmq has not released yet.
    public var queuedBytes: Int { bytes.load(ordering: .acquiring) }

    /// The bytes of every zero-copy frame ever sent with this ledger.
    public var totalQueuedBytes: Int { everQueued.load(ordering: .relaxed) }

    func add(_ count: Int) {
        bytes.add(count, ordering: .relaxed)
        everQueued.add(count, ordering: .relaxed)
    }

    func release(_ count: Int) {
        bytes.subtract(count, ordering: .releasing)
    }
}

/// What a zero-copy message sent with a ledger keeps alive: the frame's storage, and the ledger to
/// take its bytes off when libzmq drops it.
final class LedgerEntry {
    let storage: FrameStorage
    let ledger: SendLedger

    init(storage: FrameStorage, ledger: SendLedger) {
        self.storage = storage
        self.ledger = ledger
        ledger.add(storage.count)
    }

    deinit { ledger.release(storage.count) }
}
