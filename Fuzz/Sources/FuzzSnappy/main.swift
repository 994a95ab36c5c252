import FuzzSupport
import ParameterServer
import ZeroMQ

/// The uncompressed length a Snappy stream starts with (a little-endian base-128 varint), or 0.
func preamble(_ data: [UInt8]) -> UInt32 {
    var value: UInt64 = 0
    for (index, byte) in data.prefix(5).enumerated() {
        value |= UInt64(byte & 0x7f) << (7 * UInt64(index))
        if byte & 0x80 == 0 { return UInt32(truncatingIfNeeded: value) }
    }
    return 0
}

/// Snappy: a frame compressed by the filter decompresses to the same bytes; arbitrary bytes
/// declared as compressed (with the size from the input's first four bytes) decompress to exactly
/// that size or are refused.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = FuzzInput(start, count).bytes
    guard bytes.count >= 4 else { return 0 }
    let stated = bytes[0..<4].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
    let data = Array(bytes[4...])

    // Round trip: the data as the values frame of a push, padded to whole floats.
    let values = data + Array(repeating: 0, count: (4 - data.count % 4) % 4)
    let plain = Message(
        header: Header(kind: .push, sender: NodeID(2), requestID: 1, keyCount: 0, valueLength: 1),
        keys: Frame(), values: Frame(bytes: values))
    let compressed = SnappyCompression.compress(plain, threshold: 0)
    do {
        let restored = try SnappyCompression.decompress(compressed)
        fuzzCheck(restored.values?.bytes == values && restored.keys?.count == 0, "compress → decompress changed the frames")
        fuzzCheck(restored.header.compressedSizes == nil, "cz survived decompression")
    } catch {
        fatalError("a frame the filter compressed does not decompress: \(error)")
    }

    // Arbitrary data declared compressed: with the size from the input, or (low bit of byte 0 set)
    // with the size the data's own Snappy preamble states, so that the declared size agrees.
    let declared = bytes[0] & 1 == 0 ? stated : preamble(data)
    guard declared > 0, UInt64(declared) <= UInt64(WireLimits.default.maxFrameBytes) else { return 0 }
    var header = plain.header
    header.compressedSizes = [0, declared]
    if let restored = try? SnappyCompression.decompress(Message(header: header, keys: Frame(), values: Frame(bytes: data))) {
        fuzzCheck(restored.values?.count == Int(declared), "decompressed to another size than declared")
    }
    return 0
}
