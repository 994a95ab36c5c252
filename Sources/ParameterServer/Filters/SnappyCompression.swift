import CSnappy
import ZeroMQ

/// Snappy compression of payload frames, marked in the header field `cz`.
///
/// Each payload frame of at least `threshold` bytes is compressed; one that does not shrink is
/// sent as it is. `cz` lists, per payload frame in wire order, its original size, or 0 for a frame
/// sent as it is, and is left out when no frame was compressed.
public enum SnappyCompression {
    /// The message with its large payload frames compressed.
    public static func compress(_ message: Message, threshold: Int) -> Message {
        guard message.header.compressedSizes == nil else { return message }
        var frames = [message.keys, message.values, message.lengths].compactMap { $0 }
        guard frames.contains(where: { $0.count >= threshold && $0.count > 0 }) else { return message }
        var sizes: [UInt32] = []
        var compressedAny = false
        for index in frames.indices {
            let original = frames[index]
            if original.count >= max(threshold, 1), let compressed = compress(original) {
                frames[index] = compressed
                sizes.append(UInt32(original.count))
                compressedAny = true
            } else {
                sizes.append(0)
            }
        }
        guard compressedAny else { return message }
        var result = message
        result.header.compressedSizes = sizes
        assign(frames, to: &result)
        return result
    }

    /// The message with every compressed frame restored; throws ``ErrorCode/unsupportedEncoding``
    /// for a frame that is not valid Snappy data of the size `cz` declares.
    public static func decompress(_ message: Message) throws(WireError) -> Message {
        guard let sizes = message.header.compressedSizes else { return message }
        var frames = [message.keys, message.values, message.lengths].compactMap { $0 }
        guard sizes.count == frames.count else {
            throw WireError(.malformedHeader, field: "cz", "\(sizes.count) sizes for \(frames.count) payload frames")
        }
        for index in frames.indices where sizes[index] > 0 {
            frames[index] = try decompress(frames[index], size: Int(sizes[index]), field: "cz[\(index)]")
        }
        var result = message
        result.header.compressedSizes = nil
        assign(frames, to: &result)
        return result
    }

    private static func assign(_ frames: [Frame], to message: inout Message) {
        var iterator = frames.makeIterator()
        if message.keys != nil { message.keys = iterator.next() }
        if message.values != nil { message.values = iterator.next() }
        if message.lengths != nil { message.lengths = iterator.next() }
    }

    /// The compressed bytes, or `nil` when compression does not make the frame smaller.
    static func compress(_ frame: Frame) -> Frame? {
        frame.withUnsafeBytes { input -> Frame? in
            let bound = snappy_max_compressed_length(input.count)
            return withUnsafeTemporaryAllocation(byteCount: bound, alignment: 16) { scratch -> Frame? in
                var length = bound
                let status = snappy_compress(
                    input.baseAddress!.assumingMemoryBound(to: CChar.self), input.count,
                    scratch.baseAddress!.assumingMemoryBound(to: CChar.self), &length)
                guard status == SNAPPY_OK, length < input.count else { return nil }
                return Frame(copying: UnsafeRawBufferPointer(start: scratch.baseAddress, count: length))
            }
        }
    }

    /// The most bytes one byte of Snappy data can expand to (a 3-byte copy element makes 64).
    static let maxExpansion = 22

    static func decompress(_ frame: Frame, size: Int, field: String) throws(WireError) -> Frame {
        let result = frame.withUnsafeBytes { input -> Result<Frame, WireError> in
            guard let base = input.baseAddress?.assumingMemoryBound(to: CChar.self) else {
                return .failure(WireError(.unsupportedEncoding, field: field, "an empty frame is not Snappy data"))
            }
            // A Snappy element of at most 3 bytes makes at most 64 bytes, so a frame that declares
            // more than that ratio allows is refused before memory is committed to it.
            guard size <= Self.maxExpansion * input.count else {
                return .failure(WireError(
                    .unsupportedEncoding, field: field,
                    "\(size) bytes cannot come from \(input.count) bytes of Snappy data"))
            }
            var declared = 0
            guard snappy_uncompressed_length(base, input.count, &declared) == SNAPPY_OK, declared == size else {
                return .failure(WireError(
                    .unsupportedEncoding, field: field,
                    "the frame does not hold Snappy data of \(size) bytes"))
            }
            var failed = false
            let output = Frame.allocate(count: size) { output in
                var length = size
                let status = snappy_uncompress(
                    base, input.count, output.baseAddress?.assumingMemoryBound(to: CChar.self), &length)
                if status != SNAPPY_OK || length != size {
                    failed = true
                    output.initializeMemory(as: UInt8.self, repeating: 0)
                }
            }
            if failed {
                return .failure(WireError(.unsupportedEncoding, field: field, "the Snappy data is corrupt"))
            }
            return .success(output)
        }
        return try result.get()
    }
}
