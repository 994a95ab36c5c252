import ZeroMQ

/// The bytes libFuzzer hands a target, and the ways the targets cut them into frames and values.
public struct FuzzInput {
    /// The input, copied.
    public let bytes: [UInt8]

    /// Copies `count` bytes at `start`.
    public init(_ start: UnsafeRawPointer, _ count: Int) {
        bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    }

    /// The frames of a message: byte 0 gives the count (1 to 4); each frame but the last is prefixed
    /// by its length as a little-endian UInt16; the last takes the rest. Missing bytes give short
    /// or empty frames.
    public var frames: [[UInt8]] {
        guard let first = bytes.first else { return [] }
        let count = Int(first % 4) + 1
        var frames: [[UInt8]] = []
        var position = 1
        for index in 0..<count {
            if index == count - 1 {
                frames.append(Array(bytes[min(position, bytes.count)...]))
                break
            }
            guard position + 2 <= bytes.count else {
                frames.append([])
                continue
            }
            let length = Int(bytes[position]) | Int(bytes[position + 1]) << 8
            position += 2
            let end = min(position + length, bytes.count)
            frames.append(Array(bytes[position..<end]))
            position = end
        }
        return frames
    }

    /// The inverse of ``frames``: the input that cuts into `frames` (each but the last shorter than
    /// 65,536 bytes), for writing seeds.
    public static func joining(_ frames: [[UInt8]]) -> [UInt8] {
        precondition((1...4).contains(frames.count), "one to four frames")
        var bytes: [UInt8] = [UInt8(frames.count - 1)]
        for (index, frame) in frames.enumerated() {
            if index < frames.count - 1 {
                precondition(frame.count < 1 << 16, "a frame before the last is shorter than 64 KiB")
                bytes += [UInt8(frame.count & 0xff), UInt8(frame.count >> 8)]
            }
            bytes += frame
        }
        return bytes
    }
}

/// Stops the fuzzer with a finding when an invariant does not hold.
public func fuzzCheck(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("invariant violated: \(message())") }
}

/// The bytes of a frame.
public func fuzzBytes(_ frame: Frame?) -> [UInt8]? { frame?.bytes }
