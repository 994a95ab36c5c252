import Testing
import ZeroMQ

@testable import ParameterServer

@Suite("Filters: compression and quantization")
struct FilterPayloadTests {
    /// 90 % zeros, like a sparse gradient: compresses well.
    static func sparseValues(_ count: Int) -> [Float] {
        (0..<count).map { $0 % 10 == 0 ? Float($0) * 0.25 : 0 }
    }

    static func push(count: Int) -> Message {
        let keys = (0..<UInt64(count)).map { $0 * 3 }
        return Message(
            header: Header(kind: .push, sender: NodeID(rawValue: 2), requestID: 9, table: 0, keyCount: UInt32(count), valueLength: 1),
            keys: Frame(array: keys), values: Frame(array: sparseValues(count)))
    }

    @Test("Frames above the threshold are compressed and marked in cz; decompression restores every byte")
    func compressionRoundTrip() throws {
        let message = Self.push(count: 4096)
        let compressed = SnappyCompression.compress(message, threshold: 1024)
        let sizes = try #require(compressed.header.compressedSizes)
        #expect(sizes == [UInt32(8 * 4096), UInt32(4 * 4096)])
        #expect(compressed.payloadBytes < message.payloadBytes / 2)
        #expect(compressed.header.isFilterEncoded)

        let frames = MessageCodec.encode(compressed)
        let error = #expect(throws: WireError.self) { try MessageCodec.decode(frames) }
        #expect(error?.code == .unsupportedEncoding)

        let restored = try SnappyCompression.decompress(try MessageCodec.decodeEncoded(frames))
        #expect(restored.keys == message.keys)
        #expect(restored.values == message.values)
        #expect(restored.header.compressedSizes == nil)
        try MessageCodec.validatePayload(restored)
    }

    @Test("Frames below the threshold, and frames that do not shrink, are sent as they are")
    func thresholdAndIncompressible() {
        let small = Self.push(count: 16)
        #expect(SnappyCompression.compress(small, threshold: 1024).header.compressedSizes == nil)
        // Pseudo-random bytes do not compress.
        var state: UInt64 = 0x1234_5678
        let noise = (0..<2048).map { _ -> UInt64 in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state
        }
        let frame = Frame(array: noise)
        #expect(SnappyCompression.compress(frame) == nil)
    }

    @Test("Corrupt Snappy data or a wrong declared size is unsupportedEncoding, never a crash")
    func corruptCompressedData() throws {
        let compressed = SnappyCompression.compress(Self.push(count: 4096), threshold: 1024)
        var wrongSize = compressed
        wrongSize.header.compressedSizes = [100, 4 * 4096]
        #expect(throws: WireError.self) { try SnappyCompression.decompress(wrongSize) }
        var garbage = compressed
        garbage.keys = Frame(bytes: [UInt8](repeating: 0xFF, count: 64))
        let error = #expect(throws: WireError.self) { try SnappyCompression.decompress(garbage) }
        #expect(error?.code == .unsupportedEncoding)
        var tooFew = compressed
        tooFew.header.compressedSizes = [UInt32(8 * 4096)]
        #expect(throws: WireError.self) { try MessageCodec.decodeEncoded(MessageCodec.encode(tooFew)) }
    }

    @Test("Half floats: values representable in 16 bits come back exactly, others rounded, large ones clamped")
    func quantization() throws {
        let values: [Float] = [0, 1, -2.5, 0.1, 1e6, -1e6, 3.14159]
        let keys = (0..<UInt64(values.count)).map { $0 }
        let message = Message(
            header: Header(kind: .push, table: 0, keyCount: UInt32(keys.count), valueLength: 1),
            keys: Frame(array: keys), values: Frame(array: values))
        let quantized = ValueQuantization.quantize(message)
        #expect(quantized.values?.count == 2 * values.count)
        #expect(quantized.header.flags.contains(.float16Values))
        let decoded = try MessageCodec.decodeEncoded(MessageCodec.encode(quantized))
        let restored = try ValueQuantization.dequantize(decoded)
        try MessageCodec.validatePayload(restored)
        let result = ValueFrame(restored.values!).elements
        #expect(result[0] == 0)
        #expect(result[1] == 1)
        #expect(result[2] == -2.5)
        #expect(result[3] == Float(Float16(0.1)))
        #expect(result[4] == 65504)
        #expect(result[5] == -65504)
        #expect(abs(result[6] - 3.14159) < 0.002)
    }

    @Test("Filter header fields round-trip through the codec; misplaced filter flags are rejected")
    func headerFields() throws {
        var header = Header(kind: .push, sender: NodeID(rawValue: 4), requestID: 5, table: 1, flags: [.keysCached], keyCount: 10, valueLength: 1)
        header.keyCacheHash = 0xDEAD_BEEF_0000_0001
        header.compressedSizes = [40]
        header.acceptedEncodings = [.snappy, .float16]
        let decoded = try HeaderCodec.decode(HeaderCodec.encode(header))
        #expect(decoded == header)

        var call = Header(kind: .rangeFunction, requestID: 1, table: 0, keyRange: KeyRange(0, 100), updater: "scale")
        call.arguments = [0.5, -2]
        #expect(try HeaderCodec.decode(HeaderCodec.encode(call)) == call)

        var missingHash = header
        missingHash.keyCacheHash = nil
        let missing = #expect(throws: WireError.self) { try HeaderCodec.decode(HeaderCodec.encode(missingHash)) }
        #expect(missing?.field == "kh")

        var onPullReply = Header(kind: .pullReply, table: 0, flags: [.cacheKeys], keyCount: 1, valueLength: 1)
        onPullReply.keyCacheHash = 1
        #expect(throws: WireError.self) { try HeaderCodec.decode(HeaderCodec.encode(onPullReply)) }
        let halfOnPull = Header(kind: .pull, table: 0, flags: [.float16Values], keyCount: 1)
        #expect(throws: WireError.self) { try HeaderCodec.decode(HeaderCodec.encode(halfOnPull)) }
        var rangeWithoutFunction = Header(kind: .rangeFunction, table: 0, keyRange: KeyRange(0, 1))
        rangeWithoutFunction.arguments = []
        let noName = #expect(throws: WireError.self) { try HeaderCodec.decode(HeaderCodec.encode(rangeWithoutFunction)) }
        #expect(noName?.field == "u")
    }
}
