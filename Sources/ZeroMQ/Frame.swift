import CZeroMQ
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One immutable frame of a multipart message: a contiguous run of bytes.
///
/// A frame never copies what it wraps: a received frame keeps the `zmq_msg_t` libzmq filled, a frame
/// made from a Swift array keeps that array alive, and sending a frame above
/// ``Socket/zeroCopyThreshold`` bytes hands libzmq a reference instead of a copy (see
/// ``Socket/send(_:dontWait:)``). The bytes never change after creation, which is why a frame may
/// cross threads.
public struct Frame: Sendable {
    @usableFromInline let storage: FrameStorage

    @usableFromInline init(storage: FrameStorage) {
        self.storage = storage
    }

    /// The number of bytes.
    @inlinable public var count: Int { storage.count }

    /// Whether the frame holds no byte.
    @inlinable public var isEmpty: Bool { storage.count == 0 }

    /// Calls `body` with the frame's bytes. The pointer is valid only inside `body`; it need not be aligned.
    @inlinable
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(storage) {
            try body(UnsafeRawBufferPointer(start: storage.baseAddress, count: storage.count))
        }
    }

    /// An empty frame.
    public init() {
        self.storage = FrameStorage(allocatedCount: 0)
    }

    /// A frame holding a copy of `bytes`.
    public init(copying bytes: UnsafeRawBufferPointer) {
        let storage = FrameStorage(allocatedCount: bytes.count)
        if let base = bytes.baseAddress, bytes.count > 0 {
            storage.mutableBaseAddress!.copyMemory(from: base, byteCount: bytes.count)
        }
        self.storage = storage
    }

    /// A frame holding a copy of the given bytes.
    public init<C: Collection>(bytes: C) where C.Element == UInt8 {
        let array = Array(bytes)
        self = array.withUnsafeBytes { Frame(copying: $0) }
    }

    /// A frame holding the UTF-8 bytes of `string`.
    public init(string: String) {
        var copy = string
        self = copy.withUTF8 { Frame(copying: UnsafeRawBufferPointer($0)) }
    }

    /// A frame that shares the storage of `array` without copying it; the array stays alive as long as
    /// the frame (or a message libzmq is sending from it) does. Elements are laid out as in memory,
    /// which is little-endian on every platform this package supports.
    @inlinable  // specialized where it is called: the unspecialized form looks up `[Element]`'s metadata every time
    public init<Element: BitwiseCopyable & Sendable>(array: [Element]) {
        self.storage = FrameStorage(keepingAlive: array)
    }

    /// A frame over the elements `range` of `array`, sharing its storage without copying: the array
    /// stays alive as long as the frame (or a message libzmq is sending from it) does.
    @inlinable
    public init<Element: BitwiseCopyable & Sendable>(array: [Element], range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= array.count, "range \(range) outside 0..<\(array.count)")
        self.storage = FrameStorage(keepingAlive: array, range: range)
    }

    /// A frame of `count` fresh bytes that `initializer` must fill completely.
    public static func allocate(
        count: Int, initializingWith initializer: (UnsafeMutableRawBufferPointer) throws -> Void
    ) rethrows -> Frame {
        let storage = FrameStorage(allocatedCount: count)
        try initializer(UnsafeMutableRawBufferPointer(start: storage.mutableBaseAddress, count: count))
        return Frame(storage: storage)
    }

    /// The bytes as an array (a copy).
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }
}

extension Frame: Equatable {
    /// Frames are equal when their bytes are.
    public static func == (lhs: Frame, rhs: Frame) -> Bool {
        guard lhs.count == rhs.count else { return false }
        return lhs.withUnsafeBytes { a in
            rhs.withUnsafeBytes { b in
                a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0
            }
        }
    }
}

/// The owner of a frame's bytes: malloc'd memory, a received `zmq_msg_t`, or a kept-alive Swift array.
///
/// `@unchecked Sendable` is sound because the bytes are never written after the initializer returns
/// (``Frame/allocate(count:initializingWith:)`` fills them before the frame exists) and the only
/// mutable state, the reference count, is atomic.
@usableFromInline
final class FrameStorage: @unchecked Sendable {
    @usableFromInline let baseAddress: UnsafeRawPointer?
    @usableFromInline let count: Int
    @usableFromInline let owner: Owner

    @usableFromInline
    enum Owner {
        case allocated(UnsafeMutableRawPointer?)
        case message(UnsafeMutablePointer<zmq_msg_t>)
        case array(any Sendable)
    }

    var mutableBaseAddress: UnsafeMutableRawPointer? {
        if case .allocated(let p) = owner { return p }
        return nil
    }

    init(allocatedCount count: Int) {
        // malloc, not `UnsafeMutableRawPointer.allocate`: the latter takes glibc's slower
        // `posix_memalign` path for any alignment, and malloc's 16 bytes are all a frame needs.
        let p = count > 0 ? malloc(count) : nil
        if count > 0 && p == nil { fatalError("out of memory allocating a frame of \(count) bytes") }
        self.baseAddress = UnsafeRawPointer(p)
        self.count = count
        self.owner = .allocated(p)
    }

    /// Takes ownership of an initialised `zmq_msg_t` (closed when the storage goes away).
    init(takingMessage message: UnsafeMutablePointer<zmq_msg_t>) {
        self.baseAddress = UnsafeRawPointer(zmq_msg_data(message))
        self.count = zmq_msg_size(message)
        self.owner = .message(message)
    }

    @inlinable
    init<Element: BitwiseCopyable & Sendable>(keepingAlive array: [Element], range: Range<Int>? = nil) {
        // The buffer of a native array does not move while a reference to it is held and it is not
        // mutated; this storage holds that reference and never mutates it.
        let range = range ?? 0..<array.count
        let stride = MemoryLayout<Element>.stride
        self.baseAddress = range.isEmpty ? nil : array.withUnsafeBytes { $0.baseAddress.map { $0 + range.lowerBound * stride } }
        self.count = range.count * stride
        self.owner = .array(array)
    }

    deinit {
        switch owner {
        case .allocated(let p): free(p)
        case .message(let m):
            zmq_msg_close(m)
            m.deallocate()
        case .array: break
        }
    }
}

extension Frame {
    /// A property of the message this frame was received in (`zmq_msg_gets`): `User-Id` (what the
    /// ZAP handler said, see ``curvePublicKey``), `Peer-Address`, `Socket-Type`, `Routing-Id`, …;
    /// `nil` when the connection did not set it or the frame was not received from a socket.
    public func property(_ name: String) -> String? {
        guard case .message(let message) = storage.owner, let value = zmq_msg_gets(message, name) else { return nil }
        return String(cString: value)
    }

    /// The CurveZMQ public key of the peer that sent the message this frame was received in, as a
    /// ``ZAPHandler`` admitted it (the `User-Id` property); `nil` on a connection without CURVE or
    /// without that handler.
    public var curvePublicKey: CurveKey? {
        guard case .message(let message) = storage.owner, let value = zmq_msg_gets(message, "User-Id") else { return nil }
        // Read in place: the key is 40 characters, so this costs no allocation.
        let length = strlen(value)
        guard length == CurveKey.textCount else { return nil }
        return value.withMemoryRebound(to: UInt8.self, capacity: length) {
            CurveKey(z85Characters: UnsafeBufferPointer(start: $0, count: length))
        }
    }
}
