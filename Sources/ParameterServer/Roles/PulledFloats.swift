import ZeroMQ

/// The floats a pull read, in key order, read in place from the frames of the servers' replies:
/// nothing is copied until ``array`` (or ``copyBytes(to:)``) is asked for.
///
/// A pull answered by one server has one part, one answered by several has one per server slice.
/// The frames keep libzmq's message buffers alive as long as the floats are. Floats are stored as
/// the wire has them, 4 bytes each in the host's byte order, and are read without assuming an
/// alignment (libzmq may place a frame at any offset of its receive buffer).
public struct PulledFloats: RandomAccessCollection, Sendable {
    /// One reply's share: `count` floats of `frame` after its first `skip`, at `start` in the whole.
    struct Part: Sendable {
        var frame: Frame
        var skip: Int
        var start: Int
        var count: Int
    }

    /// One part needs no array: the usual case, a pull one server answered.
    private enum Parts: Sendable {
        case one(Frame, skip: Int, count: Int)
        case many([Part])
    }

    private let parts: Parts
    public let count: Int

    /// The floats of `parts`, each given as its frame and number of floats, in key order; each
    /// frame holds at least its floats.
    init(_ parts: [(frame: Frame, count: Int)]) {
        self.init(parts.map { ($0.frame, 0, $0.count) })
    }

    /// The floats of `parts`, each given as its frame, the floats to skip at the frame's start and
    /// the number of floats after them, in key order; each frame holds at least those floats.
    init(_ parts: [(frame: Frame, skip: Int, count: Int)]) {
        precondition(parts.allSatisfy { $0.frame.count >= 4 * ($0.skip + $0.count) }, "a frame shorter than its floats")
        count = parts.reduce(0) { $0 + $1.count }
        if parts.count == 1, let only = parts.first {
            self.parts = .one(only.frame, skip: only.skip, count: only.count)
        } else {
            var start = 0
            self.parts = .many(parts.map { part in
                defer { start += part.count }
                return Part(frame: part.frame, skip: part.skip, start: start, count: part.count)
            })
        }
    }

    /// The floats of `array`, which the frame keeps alive; nothing is copied.
    public init(_ array: [Float]) {
        self.init([(Frame(array: array), array.count)])
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    public subscript(position: Int) -> Float {
        precondition(position >= 0 && position < count, "index \(position) outside 0..<\(count)")
        switch parts {
        case .one(let frame, let skip, _):
            return Self.float(at: skip + position, of: frame)
        case .many(let parts):
            // The last part that starts at or before `position` (parts may hold no float).
            var low = 0
            var high = parts.count - 1
            while low < high {
                let middle = (low + high + 1) / 2
                if parts[middle].start <= position { low = middle } else { high = middle - 1 }
            }
            return Self.float(at: parts[low].skip + position - parts[low].start, of: parts[low].frame)
        }
    }

    private static func float(at index: Int, of frame: Frame) -> Float {
        frame.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4 * index, as: Float.self) }
    }

    /// Calls `body` with the bytes of each part in key order, 4 per float.
    public func forEachPart(_ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        func visit(_ frame: Frame, _ skip: Int, _ count: Int) throws {
            try frame.withUnsafeBytes { bytes in
                try body(UnsafeRawBufferPointer(rebasing: bytes[(4 * skip)..<(4 * (skip + count))]))
            }
        }
        switch parts {
        case .one(let frame, let skip, let count): try visit(frame, skip, count)
        case .many(let parts): for part in parts { try visit(part.frame, part.skip, part.count) }
        }
    }

    /// Copies the floats to `destination`, which must hold `4 × count` bytes.
    public func copyBytes(to destination: UnsafeMutableRawBufferPointer) {
        precondition(destination.count >= 4 * count, "\(destination.count) bytes cannot hold \(count) floats")
        var offset = 0
        forEachPart { bytes in
            guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
            (destination.baseAddress! + offset).copyMemory(from: source, byteCount: bytes.count)
            offset += bytes.count
        }
    }

    /// The floats as an array: one copy.
    public var array: [Float] {
        [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            copyBytes(to: UnsafeMutableRawBufferPointer(buffer))
            initialized = count
        }
    }
}
