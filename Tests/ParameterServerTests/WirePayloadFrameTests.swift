import Testing
import ZeroMQ

@testable import ParameterServer

@Suite("Wire payload frames and limits")
struct WirePayloadFrameTests {
    @Test("a key frame shares its array and reads every key back")
    func keyFrameFromArray() {
        let keys: [UInt64] = [1, 5, 1 << 40, UInt64.max - 1]
        let frame = KeyFrame(keys)
        #expect(frame.count == 4)
        #expect(frame.frame.count == 32)
        #expect((0..<4).map { frame[$0] } == keys)
        #expect(frame.elements == keys)
        let shared = keys.withUnsafeBytes { $0.baseAddress }
        #expect(frame.frame.withUnsafeBytes { $0.baseAddress } == shared)
        #expect(frame.withUnsafeBufferPointer { Array($0) } == keys)
        #expect(frame.withUnsafeBytes { bytes, count in count == 4 && bytes.count == 32 })
    }

    @Test("a value frame copied from a slice holds just that slice")
    func valueFrameFromSlice() {
        let values: [Float] = (0..<10).map { Float($0) + 0.5 }
        let frame = values.withUnsafeBufferPointer { ValueFrame(copying: UnsafeBufferPointer(rebasing: $0[3..<7])) }
        #expect(frame.elements == [3.5, 4.5, 5.5, 6.5])
        #expect(frame.frame.withUnsafeBytes { $0.baseAddress } != values.withUnsafeBytes { $0.baseAddress })
        #expect(PayloadFrames.copy(values, 3..<7) == frame.frame)
        #expect(PayloadFrames.copy(values, 5..<5).isEmpty)
        #expect(ValueFrame(Frame()).isEmpty)
        #expect(ValueFrame(Frame()).withUnsafeBufferPointer { $0.count } == 0)
    }

    @Test("typed access works at every alignment")
    func unalignedTypedAccess() {
        let keys: [UInt64] = [3, 1 << 33, 77, UInt64.max]
        for offset in 0..<8 {
            var bytes = [UInt8](repeating: 0xaa, count: offset + 32)
            keys.withUnsafeBytes { source in
                bytes.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: offset).copyMemory(from: source.baseAddress!, byteCount: 32) }
            }
            let read = bytes.withUnsafeBytes { raw in
                KeyFrame.withTypedElements(UnsafeRawBufferPointer(rebasing: raw[offset...])) { Array($0) }
            }
            #expect(read == keys, "offset \(offset)")
        }
    }

    @Test("a decoded message exposes typed views of its frames")
    func messageViews() throws {
        let message = WireSamples.message(for: WireSamples.minimalHeader(.push, flags: .hasLengths))
        let decoded = try MessageCodec.decode(MessageCodec.encode(message))
        #expect(decoded.keyFrame?.elements == WireSamples.keys)
        #expect(decoded.lengthFrame?.elements == [0, 1, 2, 0, 1])
        #expect(decoded.valueFrame?.elements == [-1, -0.5, 0, 0.5])
        #expect(Message(header: Header(kind: .heartbeat)).keyFrame == nil)
    }

    @Test("the default limits are the documented ones and valid")
    func defaultLimits() throws {
        let limits = WireLimits.default
        #expect(limits.maxHeaderBytes == 65_536)
        #expect(limits.maxKeysPerMessage == 67_108_864)
        #expect(limits.maxValueLength == 65_536)
        #expect(limits.maxFrameBytes == 1_073_741_824)
        #expect(limits.maxStringBytes == 8_192)
        #expect(limits.maxNodes == 4_096)
        #expect(limits.maxRangesPerNode == 4_096)
        try limits.validate()
    }

    @Test("invalid limits name the setting at fault")
    func invalidLimits() {
        func failure(_ limits: WireLimits) -> String? {
            do {
                try limits.validate()
                return nil
            } catch {
                return error.field
            }
        }
        #expect(failure(WireLimits(maxHeaderBytes: 0)) == "maxHeaderBytes")
        #expect(failure(WireLimits(maxHeaderBytes: WireLimits.headerBytesCeiling + 1)) == "maxHeaderBytes")
        #expect(failure(WireLimits(maxKeysPerMessage: -1)) == "maxKeysPerMessage")
        #expect(failure(WireLimits(maxKeysPerMessage: (1 << 40) + 1)) == "maxKeysPerMessage")
        #expect(failure(WireLimits(maxValueLength: (1 << 20) + 1)) == "maxValueLength")
        #expect(failure(WireLimits(maxFrameBytes: 0)) == "maxFrameBytes")
        #expect(failure(WireLimits(maxStringBytes: 0)) == "maxStringBytes")
        #expect(failure(WireLimits(maxNodes: 0)) == "maxNodes")
        #expect(failure(WireLimits(maxRangesPerNode: 0)) == "maxRangesPerNode")
        #expect(failure(WireLimits(maxHeaderBytes: 1 << 20, maxFrameBytes: 1)) == nil)
    }
}
