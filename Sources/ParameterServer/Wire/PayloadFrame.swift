import ZeroMQ

/// A payload frame seen as little-endian elements of one type: keys, values or lengths.
///
/// Received frames may start at any address, so element reads are unaligned loads;
/// ``withUnsafeBufferPointer(_:)`` hands out a typed buffer for tight loops.
public struct PayloadFrame<Element: BitwiseCopyable & Sendable>: Sendable {
    /// The underlying frame.
    public let frame: Frame

    /// Views `frame` as elements; trailing bytes that do not fill an element are not part of the view
    /// (``MessageCodec/decode(_:limits:)`` has already rejected such frames).
    public init(_ frame: Frame) {
        self.frame = frame
    }

    /// A frame that shares the storage of `elements` without copying them.
    public init(_ elements: [Element]) {
        self.frame = Frame(array: elements)
    }

    /// A frame holding a copy of `elements`, e.g. a slice of a larger array.
    public init(copying elements: UnsafeBufferPointer<Element>) {
        self.frame = Frame(copying: UnsafeRawBufferPointer(elements))
    }

    /// The number of elements.
    @inlinable public var count: Int { frame.count / MemoryLayout<Element>.stride }

    /// Whether the frame holds no element.
    @inlinable public var isEmpty: Bool { count == 0 }

    /// The element at `index`.
    @inlinable
    public subscript(index: Int) -> Element {
        precondition(index >= 0 && index < count, "PayloadFrame index \(index) out of range 0..<\(count)")
        return frame.withUnsafeBytes { bytes in
            bytes.loadUnaligned(fromByteOffset: index * MemoryLayout<Element>.stride, as: Element.self)
        }
    }

    /// Calls `body` with the frame's bytes and its element count; the bytes need not be aligned.
    @inlinable
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer, Int) throws -> R) rethrows -> R {
        try frame.withUnsafeBytes { try body($0, count) }
    }

    /// Calls `body` with the elements as a typed buffer: the frame's own bytes when they are
    /// aligned for `Element`, otherwise an aligned copy.
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Element>) throws -> R) rethrows -> R {
        let count = self.count
        return try frame.withUnsafeBytes { bytes in
            try Self.withTypedElements(UnsafeRawBufferPointer(rebasing: bytes[0..<count * MemoryLayout<Element>.stride]), body)
        }
    }

    /// Calls `body` with `bytes` as typed elements, rebinding them in place when aligned and copying
    /// them otherwise (libzmq places received frames at arbitrary offsets).
    static func withTypedElements<R>(
        _ bytes: UnsafeRawBufferPointer, _ body: (UnsafeBufferPointer<Element>) throws -> R
    ) rethrows -> R {
        let count = bytes.count / MemoryLayout<Element>.stride
        guard count > 0, let base = bytes.baseAddress else {
            return try body(UnsafeBufferPointer(start: nil, count: 0))
        }
        if Int(bitPattern: base) % MemoryLayout<Element>.alignment == 0 {
            return try base.withMemoryRebound(to: Element.self, capacity: count) {
                try body(UnsafeBufferPointer(start: $0, count: count))
            }
        }
        let copy = [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
            UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: base, byteCount: count * MemoryLayout<Element>.stride)
            initialized = count
        }
        return try copy.withUnsafeBufferPointer(body)
    }

    /// The elements as an array (a copy).
    public var elements: [Element] {
        let count = self.count
        return [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
            frame.withUnsafeBytes { bytes in
                if count > 0 {
                    UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(
                        from: bytes.baseAddress!, byteCount: count * MemoryLayout<Element>.stride)
                }
            }
            initialized = count
        }
    }
}

extension PayloadFrame: Equatable {
    /// Payload frames are equal when their bytes are.
    public static func == (lhs: PayloadFrame, rhs: PayloadFrame) -> Bool { lhs.frame == rhs.frame }
}

/// Sorted, unique little-endian `UInt64` keys.
public typealias KeyFrame = PayloadFrame<UInt64>
/// Little-endian `Float32` values.
public typealias ValueFrame = PayloadFrame<Float>
/// Little-endian `UInt32` per-key value counts.
public typealias LengthFrame = PayloadFrame<UInt32>

extension Message {
    /// The keys frame as typed keys.
    public var keyFrame: KeyFrame? { keys.map(KeyFrame.init) }
    /// The values frame as typed floats.
    public var valueFrame: ValueFrame? { values.map(ValueFrame.init) }
    /// The lengths frame as typed counts.
    public var lengthFrame: LengthFrame? { lengths.map(LengthFrame.init) }
}

/// Builds payload frames from parts of arrays, for requests split across servers.
public enum PayloadFrames {
    /// A frame holding a copy of `array[range]`; use `Frame(array:)` to send a whole array without a copy.
    public static func copy<Element: BitwiseCopyable & Sendable>(_ array: [Element], _ range: Range<Int>) -> Frame {
        precondition(range.lowerBound >= 0 && range.upperBound <= array.count, "PayloadFrames.copy range \(range) out of bounds")
        return array.withUnsafeBufferPointer { buffer in
            Frame(copying: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: buffer[range])))
        }
    }
}
