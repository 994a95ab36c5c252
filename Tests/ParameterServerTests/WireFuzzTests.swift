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

    /// What a decode must throw: the code and the field or frame the error names.
    private struct Rejection: Equatable, CustomStringConvertible {
        var code: ErrorCode
        var field: String
        var description: String { "\(code.name) at \(field)" }
    }

    /// A mutation whose outcome is certain when it is the only one applied to a valid message.
    private struct CertainMutation {
        var kind: String
        var rejection: Rejection
    }

    /// The kinds of ``CertainMutation``.
    private static let certainKinds = [
        "header cut short", "header emptied", "bytes after the header", "payload frame resized", "frame removed",
        "frame added",
    ]

    /// A valid message of the corpus, its frames, and the name the decoder gives each payload frame.
    private struct Sample {
        var message: Message
        var frames: [[UInt8]]
        /// `frameNames[i - 1]` is the name of frame `i`, e.g. `frame 2 (values)`, in the order
        /// ``Message/payloadFrames`` puts them on the wire.
        var frameNames: [String]

        init(_ message: Message) {
            self.message = message
            frames = WireSamples.byteFrames(message)
            let payload = [
                message.keys.map { _ in "keys" }, message.values.map { _ in "values" }, message.lengths.map { _ in "lengths" },
            ].compactMap { $0 }
            frameNames = payload.enumerated().map { "frame \($0.offset + 1) (\($0.element))" }
        }
    }

    /// A change of a frame's size from `old` bytes to `new`, when it is certain to be rejected: any
    /// other size of a payload frame disagrees with the header; a header cut short is truncated msgpack.
    private static func resized(frame: Int, from old: Int, to new: Int, frameNames: [String]) -> CertainMutation? {
        guard new != old else { return nil }
        if frame > 0 {
            // After an earlier mutation added a frame it has no name; only a lone mutation counts anyway.
            guard frame <= frameNames.count else { return nil }
            return CertainMutation(
                kind: "payload frame resized", rejection: Rejection(code: .sizeMismatch, field: frameNames[frame - 1]))
        }
        guard new < old else { return nil }
        if new == 0 {
            return CertainMutation(kind: "header emptied", rejection: Rejection(code: .malformedFrame, field: "frame 0 (header)"))
        }
        return CertainMutation(kind: "header cut short", rejection: Rejection(code: .malformedHeader, field: "header"))
    }

    /// Applies one random mutation to a message's frames; returns what the decode must throw when
    /// this is the only mutation of a valid message and its outcome is certain.
    private static func mutate(
        _ frames: inout [[UInt8]], frameNames: [String], using random: inout WireRandom
    ) -> CertainMutation? {
        let target = Int.random(in: 0..<frames.count, using: &random)
        // Most mutations hit the header, where the parsing happens.
        let frame = Int.random(in: 0..<4, using: &random) == 0 ? target : 0
        var bytes = frames[frame]
        let size = bytes.count
        var certain: CertainMutation?
        switch Int.random(in: 0..<10, using: &random) {
        case 0, 1:
            if !bytes.isEmpty { bytes[Int.random(in: 0..<bytes.count, using: &random)] ^= UInt8(1 << Int.random(in: 0..<8, using: &random)) }
        case 2, 3:
            if !bytes.isEmpty { bytes[Int.random(in: 0..<bytes.count, using: &random)] = interestingBytes.randomElement(using: &random)! }
        case 4:
            if !bytes.isEmpty { bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random) }
        case 5:
            bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &random)))
            certain = resized(frame: frame, from: size, to: bytes.count, frameNames: frameNames)
        case 6:
            let position = Int.random(in: 0...bytes.count, using: &random)
            let inserted = (0..<Int.random(in: 1...4, using: &random)).map { _ in interestingBytes.randomElement(using: &random)! }
            bytes.insert(contentsOf: inserted, at: position)
            if frame > 0 {
                certain = resized(frame: frame, from: size, to: bytes.count, frameNames: frameNames)
            } else if position == size {
                // The map still ends where it ended: whatever follows it is trailing bytes.
                certain = CertainMutation(kind: "bytes after the header", rejection: Rejection(code: .malformedHeader, field: "header"))
            }
        case 7:
            if bytes.count > 1 {
                let start = Int.random(in: 0..<bytes.count, using: &random)
                let end = Int.random(in: start...bytes.count, using: &random)
                bytes.removeSubrange(start..<end)
                // Cutting a header's tail is a truncation; cutting its middle may leave valid msgpack.
                if frame > 0 || end == size {
                    certain = resized(frame: frame, from: size, to: bytes.count, frameNames: frameNames)
                }
            }
        case 8:
            if bytes.count >= 8 {
                // Overwrite a big-endian length-sized word with a large value.
                let position = Int.random(in: 0...(bytes.count - 4), using: &random)
                for offset in 0..<4 { bytes[position + offset] = offset == 0 ? 0x7f : 0xff }
            }
        default:
            // The header is untouched, so the frame count is what disagrees with it.
            if Bool.random(using: &random), frames.count > 1 {
                frames.remove(at: Int.random(in: 1..<frames.count, using: &random))
                return CertainMutation(kind: "frame removed", rejection: Rejection(code: .malformedFrame, field: "frames"))
            } else {
                frames.append(frames[Int.random(in: 0..<frames.count, using: &random)])
                return CertainMutation(kind: "frame added", rejection: Rejection(code: .malformedFrame, field: "frames"))
            }
        }
        frames[frame] = bytes
        return certain
    }

    /// Why `message`, once decoded, does not survive being encoded and decoded again unchanged
    /// (to the same frames when encoded once more), or `nil` when it does.
    private static func roundTripFailure(_ message: Message) -> String? {
        let frames = MessageCodec.encode(message)
        let again: Message
        do {
            again = try MessageCodec.decode(frames)
        } catch {
            return "the re-encoded message is rejected: \(error)"
        }
        guard again.header == message.header else { return "the header changed: \(message.header) became \(again.header)" }
        guard again.keys == message.keys, again.values == message.values, again.lengths == message.lengths else {
            return "the payload of a \(message.header.kind) changed"
        }
        guard MessageCodec.encode(again).map(\.bytes) == frames.map(\.bytes) else {
            return "encoding the decoded message again gives other bytes"
        }
        return nil
    }

    @Test("100,000 mutations of valid messages decode and round-trip, or throw a WireError; certain ones the one they must")
    func mutationFuzz() throws {
        let corpus = WireSamples.all.map { Sample($0.1) }
        var random = WireRandom(seed: 0xF022)
        var decoded = 0
        var rejected: [ErrorCode: Int] = [:]
        var roundTripFailures = 0
        var firstRoundTripFailure = ""
        var unchanged = 0
        var unchangedIntact = 0
        var certainMade: [String: Int] = [:]
        var certainMet: [String: Int] = [:]
        var certainFirstMiss: [String: String] = [:]
        let iterations = 100_000
        for _ in 0..<iterations {
            let sample = corpus.randomElement(using: &random)!
            var frames = sample.frames
            let mutations = Int.random(in: 1...3, using: &random)
            var certain: CertainMutation?
            for _ in 0..<mutations { certain = Self.mutate(&frames, frameNames: sample.frameNames, using: &random) }
            let result = Result { () throws(WireError) in try WireSamples.decode(frames) }

            switch result {
            case .success(let message):
                decoded += 1
                if let failure = Self.roundTripFailure(message) {
                    if roundTripFailures == 0 { firstRoundTripFailure = failure }
                    roundTripFailures += 1
                }
            case .failure(let error):
                rejected[error.code, default: 0] += 1
            }
            // Mutations that changed nothing (a cut at the end of a frame) must leave the message as it was.
            if frames == sample.frames {
                unchanged += 1
                if case .success(let message) = result, message.header == sample.message.header,
                   message.payloadFrames == sample.message.payloadFrames
                {
                    unchangedIntact += 1
                }
            }
            if mutations == 1, let certain {
                certainMade[certain.kind, default: 0] += 1
                if case .failure(let error) = result, Rejection(code: error.code, field: error.field) == certain.rejection {
                    certainMet[certain.kind, default: 0] += 1
                } else if certainFirstMiss[certain.kind] == nil {
                    certainFirstMiss[certain.kind] = "expected \(certain.rejection), got \(result)"
                }
            }
        }
        #expect(roundTripFailures == 0, "\(roundTripFailures) decoded messages failed the round trip, the first: \(firstRoundTripFailure)")
        #expect(unchanged > 0)
        #expect(unchangedIntact == unchanged, "of \(unchanged) unchanged messages only \(unchangedIntact) decoded as they were")
        for kind in Self.certainKinds {
            let made = certainMade[kind, default: 0]
            #expect(made >= 20, "the generator made only \(made) mutations of kind \(kind)")
            #expect(
                certainMet[kind, default: 0] == made,
                "\(kind): \(certainMet[kind, default: 0]) of \(made) rejected as certain; first miss: \(certainFirstMiss[kind] ?? "")")
        }
        // The mutations must reach both outcomes and many different checks, or the fuzzer is blind.
        #expect(decoded > 1_000)
        for code in [ErrorCode.malformedHeader, .malformedFrame, .missingField, .sizeMismatch, .unknownKind, .unsupportedVersion] {
            #expect(rejected[code, default: 0] > 0, "no mutation produced \(code)")
        }
    }

    @Test("random headers built from valid pieces decode or fail naming the field at fault exactly")
    func structuredFuzz() {
        var random = WireRandom(seed: 77)
        let keys = ["v", "k", "s", "id", "t", "ts", "r", "f", "n", "vl", "u", "role", "rank", "ep", "nt", "name", "ec", "em", "clk", "x"]
        let values: [WirePackValue] = [
            .unsigned(0), .unsigned(1), .unsigned(3), .unsigned(16), .unsigned(UInt64(UInt32.max)), .unsigned(.max),
            .signed(-1), .signed(.min), .string(""), .string("tcp://a:1"), .double(0.5), .null, .boolean(false),
            .array([]), .array([.unsigned(1), .unsigned(2)]), .array([.unsigned(2), .unsigned(1)]), .map([]),
            .map([("ver", .unsigned(1)), ("nodes", .array([]))]), .binary([1]),
        ]
        let knownFields = Set(HeaderField.allCases.map(\.name))
        let base: [(String, WirePackValue)] = [("v", .unsigned(1)), ("k", .unsigned(3)), ("s", .unsigned(2)), ("id", .unsigned(5))]
        var decoded = 0
        var misnamed = 0
        var firstMisnamed = ""
        var certainMade = 0
        var certainMet = 0
        var firstCertainMiss = ""
        for _ in 0..<20_000 {
            var entries = base
            for _ in 0..<Int.random(in: 0...4, using: &random) {
                entries.append((keys.randomElement(using: &random)!, values.randomElement(using: &random)!))
            }
            // The first added entry decides the outcome when it repeats a key of the base, or when its
            // value is of a type no field takes: the decoder reads entries in order and stops at the first fault.
            var certain: String?
            if entries.count > base.count, knownFields.contains(entries[base.count].0) {
                let (key, value) = entries[base.count]
                switch value {
                case .null, .boolean, .double, .binary: certain = key
                default: certain = base.contains(where: { $0.0 == key }) ? key : nil
                }
            }
            let result = Result { () throws(WireError) in try HeaderCodec.decode(WirePackValue.map(entries).bytes) }
            switch result {
            case .success: decoded += 1
            case .failure(let error):
                // A missing field is one the header lacks (or `nt.ver`, which the empty node table map
                // lacks); any other fault lies in a field it holds. None of the pieces is a non-string
                // key, bad msgpack or a faulty array element, so `header` and `clk[i]` never fit.
                let present = Set(entries.map(\.0)).intersection(knownFields)
                let named: Bool
                if error.code == .missingField {
                    named = (knownFields.contains(error.field) && !present.contains(error.field))
                        || (error.field == "nt.ver" && present.contains("nt"))
                } else {
                    named = present.contains(error.field)
                }
                if !named {
                    if misnamed == 0 { firstMisnamed = "\(error) for keys \(entries.map(\.0))" }
                    misnamed += 1
                }
            }
            if let certain {
                certainMade += 1
                if case .failure(let error) = result, error.code == .malformedHeader, error.field == certain {
                    certainMet += 1
                } else if firstCertainMiss.isEmpty {
                    firstCertainMiss = "expected malformedHeader at \(certain), got \(result) for keys \(entries.map(\.0))"
                }
            }
        }
        #expect(misnamed == 0, "\(misnamed) errors name a field the header does not account for, the first: \(firstMisnamed)")
        #expect(certainMade > 1_000)
        #expect(certainMet == certainMade, "\(certainMet) of \(certainMade) certain faults named exactly; first miss: \(firstCertainMiss)")
        #expect(decoded > 1_000)
        #expect(decoded < 19_000)
    }
}
