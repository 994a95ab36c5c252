import Testing
import ZeroMQ

@testable import ParameterServer

@Suite("Wire codec under random mutation")
struct WireFuzzTests {
    /// Bytes that steer msgpack parsers into their edge cases.
    private static let interestingBytes: [UInt8] = [
        0x00, 0x01, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xc4, 0xc6, 0xc9, 0xcb,
        0xcc, 0xcf, 0xd0, 0xd3, 0xd4, 0xd8, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff,
    ]

    /// Applies one random mutation to a message's frames.
    private static func mutate(_ frames: inout [[UInt8]], using random: inout WireRandom) {
        let target = Int.random(in: 0..<frames.count, using: &random)
        // Most mutations hit the header, where the parsing happens.
        let frame = Int.random(in: 0..<4, using: &random) == 0 ? target : 0
        var bytes = frames[frame]
        switch Int.random(in: 0..<10, using: &random) {
        case 0, 1:
            if !bytes.isEmpty { bytes[Int.random(in: 0..<bytes.count, using: &random)] ^= UInt8(1 << Int.random(in: 0..<8, using: &random)) }
        case 2, 3:
            if !bytes.isEmpty { bytes[Int.random(in: 0..<bytes.count, using: &random)] = interestingBytes.randomElement(using: &random)! }
        case 4:
            if !bytes.isEmpty { bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random) }
        case 5:
            bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &random)))
        case 6:
            let position = Int.random(in: 0...bytes.count, using: &random)
            let inserted = (0..<Int.random(in: 1...4, using: &random)).map { _ in interestingBytes.randomElement(using: &random)! }
            bytes.insert(contentsOf: inserted, at: position)
        case 7:
            if bytes.count > 1 {
                let start = Int.random(in: 0..<bytes.count, using: &random)
                let end = Int.random(in: start...bytes.count, using: &random)
                bytes.removeSubrange(start..<end)
            }
        case 8:
            if bytes.count >= 8 {
                // Overwrite a big-endian length-sized word with a large value.
                let position = Int.random(in: 0...(bytes.count - 4), using: &random)
                for offset in 0..<4 { bytes[position + offset] = offset == 0 ? 0x7f : 0xff }
            }
        default:
            if Bool.random(using: &random), frames.count > 1 {
                frames.remove(at: Int.random(in: 1..<frames.count, using: &random))
            } else {
                frames.append(frames[Int.random(in: 0..<frames.count, using: &random)])
            }
            return
        }
        frames[frame] = bytes
    }

    @Test("100,000 mutations of valid messages only ever decode or throw a WireError")
    func mutationFuzz() throws {
        let corpus = WireSamples.all.map { WireSamples.byteFrames($0.1) }
        var random = WireRandom(seed: 0xF022)
        var decoded = 0
        var rejected: [ErrorCode: Int] = [:]
        let iterations = 100_000
        for _ in 0..<iterations {
            var frames = corpus.randomElement(using: &random)!
            for _ in 0..<Int.random(in: 1...3, using: &random) { Self.mutate(&frames, using: &random) }
            do {
                let message = try WireSamples.decode(frames)
                decoded += 1
                // Whatever decodes must survive a second round trip unchanged.
                let again = try MessageCodec.decode(MessageCodec.encode(message))
                #expect(again.header == message.header)
                #expect(again.keys == message.keys && again.values == message.values && again.lengths == message.lengths)
            } catch {
                rejected[error.code, default: 0] += 1
            }
        }
        #expect(decoded + rejected.values.reduce(0, +) == iterations)
        // The mutations must reach both outcomes and many different checks, or the fuzzer is blind.
        #expect(decoded > 1_000)
        for code in [ErrorCode.malformedHeader, .malformedFrame, .missingField, .sizeMismatch, .unknownKind, .unsupportedVersion] {
            #expect(rejected[code, default: 0] > 0, "no mutation produced \(code)")
        }
    }

    @Test("random headers built from valid pieces decode or fail with the field at fault")
    func structuredFuzz() {
        var random = WireRandom(seed: 77)
        let keys = ["v", "k", "s", "id", "t", "ts", "r", "f", "n", "vl", "u", "role", "rank", "ep", "nt", "name", "ec", "em", "clk", "x"]
        let values: [WirePackValue] = [
            .unsigned(0), .unsigned(1), .unsigned(3), .unsigned(16), .unsigned(UInt64(UInt32.max)), .unsigned(.max),
            .signed(-1), .signed(.min), .string(""), .string("tcp://a:1"), .double(0.5), .null, .boolean(false),
            .array([]), .array([.unsigned(1), .unsigned(2)]), .array([.unsigned(2), .unsigned(1)]), .map([]),
            .map([("ver", .unsigned(1)), ("nodes", .array([]))]), .binary([1]),
        ]
        var decoded = 0
        for _ in 0..<20_000 {
            var entries: [(String, WirePackValue)] = [("v", .unsigned(1)), ("k", .unsigned(3)), ("s", .unsigned(2)), ("id", .unsigned(5))]
            for _ in 0..<Int.random(in: 0...4, using: &random) {
                entries.append((keys.randomElement(using: &random)!, values.randomElement(using: &random)!))
            }
            do {
                _ = try HeaderCodec.decode(WirePackValue.map(entries).bytes)
                decoded += 1
            } catch {
                #expect(!error.field.isEmpty)
                let named = error.field == "header" || keys.contains(where: { error.field.hasPrefix($0) })
                #expect(named, "error names an unexpected field: \(error)")
            }
        }
        #expect(decoded > 1_000)
        #expect(decoded < 19_000)
    }
}
