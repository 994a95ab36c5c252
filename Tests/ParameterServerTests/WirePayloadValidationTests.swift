import Testing
import ZeroMQ

@testable import ParameterServer

@Suite("Wire codec rejects bad payload frames")
struct WirePayloadValidationTests {
    @Test("a payload frame over the frame limit is too large")
    func frameTooLarge() {
        let frames = WireSamples.byteFrames(WireSamples.message(for: WireSamples.minimalHeader(.push)))
        let error = wireDecodeError(frames, limits: WireLimits(maxFrameBytes: 39))
        #expect(error == WireError(.tooLarge, field: "frame 1 (keys)", "40 bytes exceed the frame limit of 39"))
        #expect(wireDecodeError(frames, limits: WireLimits(maxFrameBytes: 40)) == nil)
    }

    @Test("a wrong frame count is rejected for every kind")
    func wrongFrameCount() {
        for (name, message) in WireSamples.all {
            let frames = WireSamples.byteFrames(message)
            #expect(wireDecodeError(frames + [[1, 2, 3, 4]])?.code == .malformedFrame, "\(name) with an extra frame")
            if frames.count > 1 {
                #expect(wireDecodeError(Array(frames.dropLast()))?.code == .malformedFrame, "\(name) without its last frame")
            }
        }
    }

    @Test("unsorted and duplicate keys are rejected, with the index at fault")
    func unsortedKeys() throws {
        for kind in [MessageKind.push, .pull] {
            var message = WireSamples.message(for: WireSamples.minimalHeader(kind))
            message.keys = Frame(array: [UInt64](arrayLiteral: 10, 11, 11, 500, 4096))
            var error = wireDecodeError(WireSamples.byteFrames(message))
            #expect(error == WireError(.unsortedKeys, field: "frame 1 (keys)", "duplicate key at index 2: 11 follows 11"))
            message.keys = Frame(array: [UInt64](arrayLiteral: 10, 11, 500, 4096, 4095))
            error = wireDecodeError(WireSamples.byteFrames(message))
            #expect(error == WireError(.unsortedKeys, field: "frame 1 (keys)", "keys out of order at index 4: 4095 follows 4096"))
        }
        var reply = WireSamples.message(for: WireSamples.minimalHeader(.pullReply, flags: .rangeRequest))
        reply.keys = Frame(array: [UInt64](arrayLiteral: 1, 2, 3, 5, 4))
        #expect(wireDecodeError(WireSamples.byteFrames(reply))?.code == .unsortedKeys)
    }

    @Test("the sortedness scan finds the first offender at any position and alignment")
    func sortednessScan() {
        var random = WireRandom(seed: 42)
        for count in [2, 3, 255, 256, 257, 513, 2_000] {
            let keys = (0..<count).map { UInt64($0) * 7 + 3 }
            for offset in 0..<8 {
                var bytes = [UInt8](repeating: 0, count: offset + count * 8)
                keys.withUnsafeBytes { source in
                    bytes.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: offset).copyMemory(from: source.baseAddress!, byteCount: source.count) }
                }
                bytes.withUnsafeBytes { raw in
                    #expect(PayloadValidation.firstUnsortedIndex(raw.baseAddress! + offset, count: count) == nil)
                }
                let bad = Int.random(in: 1..<count, using: &random)
                var broken = keys
                broken[bad] = broken[bad - 1]
                broken.withUnsafeBytes { source in
                    bytes.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: offset).copyMemory(from: source.baseAddress!, byteCount: source.count) }
                }
                bytes.withUnsafeBytes { raw in
                    #expect(PayloadValidation.firstUnsortedIndex(raw.baseAddress! + offset, count: count) == bad, "count \(count) offset \(offset)")
                }
            }
        }
    }

    @Test("the sortedness scan compares all 64 bits, across the sign bit and at the extremes")
    func sortednessScanFullWidth() {
        var random = WireRandom(seed: 7)
        let extremes: [UInt64] = [0, 1, 1 << 62, (1 << 63) - 1, 1 << 63, (1 << 63) + 1, .max - 1, .max]
        for _ in 0..<20_000 {
            let count = Int.random(in: 2...24, using: &random)
            var keys = (0..<count).map { _ in
                Bool.random(using: &random) ? extremes.randomElement(using: &random)! : UInt64.random(in: 0...UInt64.max, using: &random)
            }
            if Bool.random(using: &random) { keys = Array(Set(keys)).sorted() }
            let expected = keys.indices.dropFirst().first { keys[$0 - 1] >= keys[$0] }
            keys.withUnsafeBytes { raw in
                #expect(PayloadValidation.firstUnsortedIndex(raw.baseAddress!, count: keys.count) == expected, "\(keys)")
            }
        }
    }

    @Test("keys outside r and the reserved key are rejected")
    func keysOutOfRange() {
        var header = WireSamples.minimalHeader(.push)
        header.keyRange = KeyRange(11, 99_999)
        var error = wireDecodeError(WireSamples.byteFrames(WireSamples.message(for: header)))
        #expect(error == WireError(.keyOutOfRange, field: "frame 1 (keys)", "key 10 lies outside r = [11, 99999)"))
        header.keyRange = KeyRange(10, 99_999)
        error = wireDecodeError(WireSamples.byteFrames(WireSamples.message(for: header)))
        #expect(error == WireError(.keyOutOfRange, field: "frame 1 (keys)", "key 99999 lies outside r = [10, 99999)"))
        header.keyRange = KeyRange(10, 100_000)
        #expect(wireDecodeError(WireSamples.byteFrames(WireSamples.message(for: header))) == nil)

        var message = WireSamples.message(for: WireSamples.minimalHeader(.pull))
        message.keys = Frame(array: [UInt64](arrayLiteral: 1, 2, 3, 4, UInt64.max))
        #expect(wireDecodeError(WireSamples.byteFrames(message))?.code == .keyOutOfRange)
    }

    @Test("every payload frame size mismatch is caught")
    func sizeMismatches() {
        let push = WireSamples.byteFrames(WireSamples.message(for: WireSamples.minimalHeader(.push)))
        var frames = push
        frames[1] += [0]
        #expect(wireDecodeError(frames) == WireError(.sizeMismatch, field: "frame 1 (keys)", "41 bytes (not a multiple of 8), but n = 5 needs 40"))
        frames = push
        frames[1].removeLast(8)
        #expect(wireDecodeError(frames) == WireError(.sizeMismatch, field: "frame 1 (keys)", "32 bytes (4 keys), but n = 5 needs 40"))
        frames = push
        frames[2].removeLast(4)
        #expect(wireDecodeError(frames) == WireError(.sizeMismatch, field: "frame 2 (values)", "36 bytes, but n = 5 keys × vl = 2 needs 40"))
        frames = push
        frames[2] += [0, 0, 0, 0]
        #expect(wireDecodeError(frames)?.code == .sizeMismatch)

        let reply = WireSamples.byteFrames(WireSamples.message(for: WireSamples.minimalHeader(.pullReply)))
        frames = reply
        frames[1].removeLast()
        #expect(wireDecodeError(frames)?.field == "frame 1 (values)")

        let lengths = WireSamples.byteFrames(WireSamples.message(for: WireSamples.minimalHeader(.push, flags: .hasLengths)))
        frames = lengths
        frames[3] += [0, 0, 0, 0]
        #expect(wireDecodeError(frames) == WireError(.sizeMismatch, field: "frame 3 (lengths)", "24 bytes, but n = 5 needs 20"))
        frames = lengths
        frames[3][0] = 1  // the lengths [0, 1, 2, 0, 1] now sum to 5 floats; the values frame holds 4
        #expect(wireDecodeError(frames) == WireError(.sizeMismatch, field: "frame 2 (values)", "16 bytes, but the lengths frame sums to 5 floats needs 20"))
        frames = lengths
        frames[3] = [0xff, 0xff, 0xff, 0xff] + frames[3].dropFirst(4)
        #expect(wireDecodeError(frames)?.code == .tooLarge)
        #expect(wireDecodeError(frames)?.field == "frame 3 (lengths)")
    }
}
