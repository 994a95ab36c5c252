import Testing
import ZeroMQ

@testable import ParameterServer

/// The error a decode throws, or `nil` when it succeeds.
private func decodeError(_ frames: [[UInt8]], limits: WireLimits = .default) -> WireError? {
    do {
        _ = try WireSamples.decode(frames, limits: limits)
        return nil
    } catch {
        return error
    }
}

/// The error decoding a header map made by the independent encoder throws.
private func headerError(_ entries: [(String, WirePackValue)], limits: WireLimits = .default) -> WireError? {
    do {
        _ = try HeaderCodec.decode(WirePackValue.map(entries).bytes, limits: limits)
        return nil
    } catch {
        return error
    }
}

/// The entries of a valid heartbeat header, to be corrupted one field at a time.
private let heartbeat: [(String, WirePackValue)] = [
    ("v", .unsigned(1)), ("k", .unsigned(3)), ("s", .unsigned(4)), ("id", .unsigned(9)),
]

/// `entries` with `key` set to `value` (appended if absent).
private func replacing(_ entries: [(String, WirePackValue)], _ key: String, with value: WirePackValue) -> [(String, WirePackValue)] {
    var result = entries.filter { $0.0 != key }
    if let index = entries.firstIndex(where: { $0.0 == key }) {
        result.insert((key, value), at: index)
    } else {
        result.append((key, value))
    }
    return result
}

@Suite("Wire codec rejects corrupt input")
struct WireCorruptInputTests {
    @Test("every truncation of every header is rejected as malformed")
    func truncatedHeaders() {
        for (name, message) in WireSamples.all {
            var frames = WireSamples.byteFrames(message)
            let header = frames[0]
            for length in 1..<header.count {
                frames[0] = Array(header[..<length])
                #expect(decodeError(frames)?.code == .malformedHeader, "\(name) cut at \(length)")
            }
            frames[0] = []
            #expect(decodeError(frames) == WireError(.malformedFrame, field: "frame 0 (header)", "the header frame is empty"))
        }
        #expect(decodeError([])?.code == .malformedFrame)
    }

    @Test("trailing bytes after the header map are rejected")
    func trailingBytes() {
        for (name, message) in WireSamples.all {
            var frames = WireSamples.byteFrames(message)
            frames[0] += [0x00]
            let error = decodeError(frames)
            #expect(error?.code == .malformedHeader, "\(name)")
            #expect(error?.detail.contains("trailing") == true, "\(name)")
        }
    }

    @Test("random bytes never decode")
    func randomBytes() {
        var random = WireRandom(seed: 0x5EED)
        for round in 0..<5_000 {
            let count = Int.random(in: 1...64, using: &random)
            var bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
            if round % 2 == 0 { bytes[0] = 0x80 | (bytes[0] & 0x0f) }  // half of them look like a map
            #expect(decodeError([bytes]) != nil, "round \(round)")
        }
    }

    @Test("a top level that is not a map is rejected")
    func nonMapTopLevel() {
        for bytes: [UInt8] in [[0x01], [0x91, 0x01], [0xa1, 0x76], [0xc0], [0xdd, 0xff, 0xff, 0xff, 0xff]] {
            let error = decodeError([bytes])
            #expect(error?.code == .malformedHeader)
            #expect(error?.detail.contains("not a msgpack map") == true)
        }
    }

    @Test("absurd declared container and string sizes are rejected before msgpack-c allocates")
    func absurdDeclaredSizes() {
        let cases: [(String, [UInt8])] = [
            ("map32 of 2^32-1 entries", [0xdf, 0xff, 0xff, 0xff, 0xff]),
            ("map16 of 65535 entries", [0xde, 0xff, 0xff, 0x00]),
            ("array32 in an unknown key", [0x81, 0xa1, 0x78, 0xdd, 0xff, 0xff, 0xff, 0xff]),
            ("array32 as the key range", [0x81, 0xa1, 0x72, 0xdd, 0x7f, 0xff, 0xff, 0xff, 0x00]),
            ("str32 of 4 GiB", [0x81, 0xa1, 0x75, 0xdb, 0xff, 0xff, 0xff, 0xff, 0x61]),
            ("bin32 of 4 GiB", [0x81, 0xa1, 0x75, 0xc6, 0xff, 0xff, 0xff, 0xff]),
            ("ext32 of 4 GiB", [0x81, 0xa1, 0x75, 0xc9, 0xff, 0xff, 0xff, 0xff, 0x01]),
            ("length field cut short", [0x81, 0xa1, 0x75, 0xdb, 0xff]),
        ]
        for (name, bytes) in cases {
            let error = decodeError([bytes])
            #expect(error?.code == .malformedHeader, "\(name)")
            #expect(error?.field == "header", "\(name)")
        }
        #expect(decodeError([[0xdf, 0xff, 0xff, 0xff, 0xff]])?.detail.contains("declares 8589934590 entries") == true)
    }

    @Test("nesting deeper than the limit is rejected")
    func deepNesting() {
        var bytes: [UInt8] = [0x81, 0xa1, 0x78]
        bytes += [UInt8](repeating: 0x91, count: 40) + [0x00]
        let error = decodeError([bytes])
        #expect(error?.code == .malformedHeader)
        #expect(error?.detail.contains("nesting deeper") == true)
        #expect(decodeError([[0x81, 0xa1, 0x78, 0xc1]])?.detail.contains("0xc1") == true)
    }

    @Test("a header over the size limit is rejected as too large")
    func headerTooLarge() {
        let header = WirePackValue.map(heartbeat + [("pad", .string(String(repeating: "x", count: 300)))]).bytes
        let error = decodeError([header], limits: WireLimits(maxHeaderBytes: 256))
        #expect(error?.code == .tooLarge)
        #expect(error?.field == "header")
        #expect(decodeError([header]) == nil)
    }

    @Test("the version is checked first")
    func badVersion() {
        #expect(headerError(replacing(heartbeat, "v", with: .unsigned(2)))?.code == .unsupportedVersion)
        #expect(headerError(replacing(heartbeat, "v", with: .unsigned(0)))?.code == .unsupportedVersion)
        // A future version may change other fields, so it wins over their errors.
        let future = replacing(replacing(heartbeat, "v", with: .unsigned(7)), "k", with: .string("push"))
        #expect(headerError(future)?.code == .unsupportedVersion)
        #expect(headerError(replacing(heartbeat, "v", with: .string("1"))) == WireError(.malformedHeader, field: "v", "expected an unsigned integer, got a string"))
        #expect(headerError(replacing(heartbeat, "v", with: .unsigned(1 << 16)))?.code == .malformedHeader)
        #expect(headerError(Array(heartbeat.dropFirst())) == WireError(.missingField, field: "v", "the protocol version is missing"))
    }

    @Test("unknown kinds and roles are rejected")
    func unknownKindsAndRoles() {
        for raw: UInt64 in [0, 9, 15, 20, 30, 32, 255, 256, 1 << 40] {
            let error = headerError(replacing(heartbeat, "k", with: .unsigned(raw)))
            #expect(error?.code == .unknownKind, "kind \(raw)")
            #expect(error?.field == "k", "kind \(raw)")
        }
        let register = WireSamples.independentEntries(WireSamples.minimalHeader(.register))
        for raw: UInt64 in [4, 255, 1 << 33] {
            let error = headerError(replacing(register, "role", with: .unsigned(raw)))
            #expect(error?.code == .malformedHeader, "role \(raw)")
            #expect(error?.field == "role", "role \(raw)")
        }
    }

    @Test("every field rejects values of the wrong type")
    func wrongTypes() {
        let full = WireSamples.independentEntries(WireSamples.fullHeader(.push))
        #expect(headerError(full) == nil)
        let integerFields = ["v", "k", "s", "id", "t", "ts", "f", "n", "vl", "role", "rank", "ec"]
        let stringFields = ["u", "ep", "name", "em"]
        let containerFields = ["r", "nt", "clk"]
        let wrongForInteger: [WirePackValue] = [.string("1"), .double(1), .boolean(true), .null, .array([.unsigned(1)]), .binary([1])]
        let wrongForString: [WirePackValue] = [.unsigned(1), .binary([0x61]), .null, .array([]), .map([])]
        let wrongForContainer: [WirePackValue] = [.unsigned(1), .string("x"), .null]
        for field in integerFields + stringFields + containerFields {
            let wrongValues = integerFields.contains(field) ? wrongForInteger : stringFields.contains(field) ? wrongForString : wrongForContainer
            for wrong in wrongValues {
                let error = headerError(replacing(full, field, with: wrong))
                #expect(error?.code == .malformedHeader, "\(field) = \(wrong)")
                #expect(error?.field == field, "\(field) = \(wrong)")
            }
        }
    }

    @Test("negative and out-of-range integers are rejected")
    func integerRanges() {
        let full = WireSamples.independentEntries(WireSamples.fullHeader(.push))
        let limits: [(String, UInt64)] = [
            ("s", UInt64(UInt32.max)), ("t", UInt64(UInt32.max)), ("rank", UInt64(UInt32.max)),
            ("ec", UInt64(UInt16.max)),
        ]
        for (field, maximum) in limits {
            #expect(headerError(replacing(full, field, with: .unsigned(maximum))) == nil, "\(field) at its maximum")
            #expect(headerError(replacing(full, field, with: .unsigned(maximum + 1)))?.field == field, "\(field) over its maximum")
            let negative = headerError(replacing(full, field, with: .signed(-1)))
            #expect(negative?.code == .malformedHeader, "\(field) negative")
            #expect(negative?.detail.contains("negative") == true, "\(field) negative")
        }
        #expect(headerError(replacing(full, "f", with: .unsigned(1 << 32)))?.field == "f")
        #expect(headerError(replacing(full, "id", with: .signed(-1)))?.field == "id")
        #expect(headerError(replacing(full, "ts", with: .unsigned(UInt64(Int64.max) + 1)))?.field == "ts")
        #expect(headerError(replacing(full, "r", with: .array([.unsigned(5), .signed(-1)])))?.field == "r")
        #expect(headerError(replacing(full, "clk", with: .array([.unsigned(1), .unsigned(UInt64.max)])))?.field == "clk[1]")
    }

    @Test("key ranges must be two ordered bounds")
    func badKeyRanges() {
        let full = WireSamples.independentEntries(WireSamples.fullHeader(.pushAck))
        for bad: WirePackValue in [.array([]), .array([.unsigned(1)]), .array([.unsigned(1), .unsigned(2), .unsigned(3)]), .array([.unsigned(9), .unsigned(8)])] {
            let error = headerError(replacing(full, "r", with: bad))
            #expect(error?.code == .malformedHeader, "\(bad)")
            #expect(error?.field == "r", "\(bad)")
        }
    }

    @Test("duplicate and non-string keys are rejected")
    func duplicateKeys() {
        for field in ["v", "k", "s", "id", "t", "name"] {
            let value: WirePackValue = field == "name" ? .string("x") : heartbeat.first { $0.0 == field }?.1 ?? .unsigned(1)
            let error = headerError(heartbeat.filter { $0.0 != field } + [(field, value), (field, value)])
            #expect(error == WireError(.malformedHeader, field: field, "the key appears twice"), "\(field)")
        }
        let nonString = WirePackValue.nonStringKeyMap(heartbeat.map { (WirePackValue.string($0.0), $0.1) } + [(.unsigned(1), .unsigned(2))])
        #expect(decodeError([nonString.bytes]) == WireError(.malformedHeader, field: "header", "key 4 of the header map is not a string"))
    }

    @Test("strings over the limit and invalid UTF-8 are rejected")
    func badStrings() {
        let register = WireSamples.independentEntries(WireSamples.minimalHeader(.register))
        let long = replacing(register, "ep", with: .string(String(repeating: "a", count: 101)))
        #expect(headerError(long, limits: WireLimits(maxStringBytes: 100))?.code == .tooLarge)
        #expect(headerError(long, limits: WireLimits(maxStringBytes: 101)) == nil)
        for invalid: [UInt8] in [[0xff], [0x61, 0xc3], [0xed, 0xa0, 0x80], [0xf0, 0x90, 0x80], [0xc0, 0xaf]] {
            let error = headerError(replacing(register, "ep", with: .rawString(invalid)))
            #expect(error == WireError(.malformedHeader, field: "ep", "the string is not valid UTF-8"), "\(invalid)")
        }
    }

    @Test("every kind's required fields are enforced")
    func missingRequiredFields() {
        for (name, message) in WireSamples.all where name.hasPrefix("minimal") {
            let entries = WireSamples.independentEntries(message.header)
            let required = HeaderCodec.requiredFields(kind: message.header.kind, flags: message.header.flags)
            let fields = HeaderField.allCases.filter { required & $0.bit != 0 && $0 != .version }.map(\.name)
            #expect(fields.count >= 3, "\(name)")
            for field in fields {
                let error = headerError(entries.filter { $0.0 != field })
                #expect(error?.code == .missingField, "\(name) without \(field)")
                #expect(error?.field == field, "\(name) without \(field)")
            }
        }
    }

    @Test("flags that do not fit the kind are rejected")
    func misplacedFlags() {
        let pull = WireSamples.independentEntries(WireSamples.minimalHeader(.pull))
        #expect(headerError(replacing(pull, "f", with: .unsigned(UInt64(MessageFlags.hasLengths.rawValue))))?.field == "f")
        let push = WireSamples.independentEntries(WireSamples.minimalHeader(.push))
        #expect(headerError(replacing(push, "f", with: .unsigned(UInt64(MessageFlags.rangeRequest.rawValue))))?.field == "f")
        #expect(headerError(replacing(push, "vl", with: .unsigned(0)))?.field == "vl")
        let rangePull = pull.filter { $0.0 != "n" } + [("f", .unsigned(UInt64(MessageFlags.rangeRequest.rawValue)))]
        #expect(headerError(rangePull) == WireError(.missingField, field: "r", "a pull message requires it"))
    }

    @Test("n and vl over the limits are too large")
    func declaredSizesOverLimits() {
        let push = WireSamples.independentEntries(WireSamples.minimalHeader(.push))
        let limits = WireLimits(maxKeysPerMessage: 4, maxValueLength: 8)
        #expect(headerError(replacing(push, "n", with: .unsigned(5)), limits: limits)?.code == .tooLarge)
        #expect(headerError(replacing(push, "vl", with: .unsigned(9)), limits: limits)?.code == .tooLarge)
        #expect(headerError(replacing(push, "n", with: .unsigned(UInt64(UInt32.max))))?.code == .tooLarge)
        // n × vl × 4 over the frame limit is caught before the values frame is looked at.
        var frames = WireSamples.byteFrames(WireSamples.message(for: WireSamples.minimalHeader(.pullReply)))
        frames[0] = WirePackValue.map(replacing(WireSamples.independentEntries(WireSamples.minimalHeader(.pullReply)), "vl", with: .unsigned(65_536))).bytes
        #expect(decodeError(frames, limits: WireLimits(maxFrameBytes: 1 << 20)) == WireError(
            .tooLarge, field: "frame 1 (values)",
            "n = 5 keys × vl = 65536 needs 1310720 bytes, over the frame limit of 1048576"))
    }

    @Test("a payload frame over the frame limit is too large")
    func frameTooLarge() {
        let frames = WireSamples.byteFrames(WireSamples.message(for: WireSamples.minimalHeader(.push)))
        let error = decodeError(frames, limits: WireLimits(maxFrameBytes: 39))
        #expect(error == WireError(.tooLarge, field: "frame 1 (keys)", "40 bytes exceed the frame limit of 39"))
        #expect(decodeError(frames, limits: WireLimits(maxFrameBytes: 40)) == nil)
    }

    @Test("a wrong frame count is rejected for every kind")
    func wrongFrameCount() {
        for (name, message) in WireSamples.all {
            let frames = WireSamples.byteFrames(message)
            #expect(decodeError(frames + [[1, 2, 3, 4]])?.code == .malformedFrame, "\(name) with an extra frame")
            if frames.count > 1 {
                #expect(decodeError(Array(frames.dropLast()))?.code == .malformedFrame, "\(name) without its last frame")
            }
        }
    }

    @Test("unsorted and duplicate keys are rejected, with the index at fault")
    func unsortedKeys() throws {
        for kind in [MessageKind.push, .pull] {
            var message = WireSamples.message(for: WireSamples.minimalHeader(kind))
            message.keys = Frame(array: [UInt64](arrayLiteral: 10, 11, 11, 500, 4096))
            var error = decodeError(WireSamples.byteFrames(message))
            #expect(error == WireError(.unsortedKeys, field: "frame 1 (keys)", "duplicate key at index 2: 11 follows 11"))
            message.keys = Frame(array: [UInt64](arrayLiteral: 10, 11, 500, 4096, 4095))
            error = decodeError(WireSamples.byteFrames(message))
            #expect(error == WireError(.unsortedKeys, field: "frame 1 (keys)", "keys out of order at index 4: 4095 follows 4096"))
        }
        var reply = WireSamples.message(for: WireSamples.minimalHeader(.pullReply, flags: .rangeRequest))
        reply.keys = Frame(array: [UInt64](arrayLiteral: 1, 2, 3, 5, 4))
        #expect(decodeError(WireSamples.byteFrames(reply))?.code == .unsortedKeys)
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

    @Test("keys outside r and the reserved key are rejected")
    func keysOutOfRange() {
        var header = WireSamples.minimalHeader(.push)
        header.keyRange = KeyRange(11, 99_999)
        var error = decodeError(WireSamples.byteFrames(WireSamples.message(for: header)))
        #expect(error == WireError(.keyOutOfRange, field: "frame 1 (keys)", "key 10 lies outside r = [11, 99999)"))
        header.keyRange = KeyRange(10, 99_999)
        error = decodeError(WireSamples.byteFrames(WireSamples.message(for: header)))
        #expect(error == WireError(.keyOutOfRange, field: "frame 1 (keys)", "key 99999 lies outside r = [10, 99999)"))
        header.keyRange = KeyRange(10, 100_000)
        #expect(decodeError(WireSamples.byteFrames(WireSamples.message(for: header))) == nil)

        var message = WireSamples.message(for: WireSamples.minimalHeader(.pull))
        message.keys = Frame(array: [UInt64](arrayLiteral: 1, 2, 3, 4, UInt64.max))
        #expect(decodeError(WireSamples.byteFrames(message))?.code == .keyOutOfRange)
    }

    @Test("every payload frame size mismatch is caught")
    func sizeMismatches() {
        let push = WireSamples.byteFrames(WireSamples.message(for: WireSamples.minimalHeader(.push)))
        var frames = push
        frames[1] += [0]
        #expect(decodeError(frames) == WireError(.sizeMismatch, field: "frame 1 (keys)", "41 bytes (not a multiple of 8), but n = 5 needs 40"))
        frames = push
        frames[1].removeLast(8)
        #expect(decodeError(frames) == WireError(.sizeMismatch, field: "frame 1 (keys)", "32 bytes (4 keys), but n = 5 needs 40"))
        frames = push
        frames[2].removeLast(4)
        #expect(decodeError(frames) == WireError(.sizeMismatch, field: "frame 2 (values)", "36 bytes, but n = 5 keys × vl = 2 needs 40"))
        frames = push
        frames[2] += [0, 0, 0, 0]
        #expect(decodeError(frames)?.code == .sizeMismatch)

        let reply = WireSamples.byteFrames(WireSamples.message(for: WireSamples.minimalHeader(.pullReply)))
        frames = reply
        frames[1].removeLast()
        #expect(decodeError(frames)?.field == "frame 1 (values)")

        let lengths = WireSamples.byteFrames(WireSamples.message(for: WireSamples.minimalHeader(.push, flags: .hasLengths)))
        frames = lengths
        frames[3] += [0, 0, 0, 0]
        #expect(decodeError(frames) == WireError(.sizeMismatch, field: "frame 3 (lengths)", "24 bytes, but n = 5 needs 20"))
        frames = lengths
        frames[3][0] = 1  // the lengths [0, 1, 2, 0, 1] now sum to 5 floats; the values frame holds 4
        #expect(decodeError(frames) == WireError(.sizeMismatch, field: "frame 2 (values)", "16 bytes, but the lengths frame sums to 5 floats needs 20"))
        frames = lengths
        frames[3] = [0xff, 0xff, 0xff, 0xff] + frames[3].dropFirst(4)
        #expect(decodeError(frames)?.code == .tooLarge)
        #expect(decodeError(frames)?.field == "frame 3 (lengths)")
    }

    @Test("node tables with bad nodes or ranges are rejected")
    func badNodeTables() {
        func nodeTableError(_ nodes: [WirePackValue], version: WirePackValue? = .unsigned(1), limits: WireLimits = .default) -> WireError? {
            var table: [(String, WirePackValue)] = [("nodes", .array(nodes))]
            if let version { table.insert(("ver", version), at: 0) }
            return headerError(heartbeat + [("nt", .map(table))], limits: limits)
        }
        func node(_ id: UInt64, ranges: [WirePackValue] = [], drop: String? = nil) -> WirePackValue {
            let entries: [(String, WirePackValue)] = [
                ("id", .unsigned(id)), ("role", .unsigned(1)), ("rank", .unsigned(0)), ("ep", .string("tcp://h:1")),
                ("ranges", .array(ranges)),
            ]
            return .map(entries.filter { $0.0 != drop })
        }
        func range(_ lower: UInt64, _ upper: UInt64) -> WirePackValue { .array([.unsigned(lower), .unsigned(upper)]) }

        #expect(nodeTableError([node(1), node(2, ranges: [range(0, 5), range(5, 9)])]) == nil)
        #expect(nodeTableError([node(1), node(2, drop: "ranges")]) == nil)
        #expect(nodeTableError([node(2), node(1)])?.field == "nt.nodes[1].id")
        #expect(nodeTableError([node(1), node(1)])?.field == "nt.nodes[1].id")
        #expect(nodeTableError([node(1, ranges: [range(0, 6), range(5, 9)])])?.field == "nt.nodes[0].ranges[1]")
        #expect(nodeTableError([node(1, ranges: [range(6, 5)])])?.field == "nt.nodes[0].ranges[0]")
        #expect(nodeTableError([node(1, ranges: [.unsigned(3)])])?.field == "nt.nodes[0].ranges[0]")
        for field in ["id", "role", "rank", "ep"] {
            #expect(nodeTableError([node(1, drop: field)]) == WireError(.missingField, field: "nt.nodes[0].\(field)", "the node has no \(field == "ep" ? "endpoint" : field)"))
        }
        #expect(nodeTableError([node(1)], version: nil)?.code == .missingField)
        #expect(nodeTableError([node(1)], version: .signed(-1))?.field == "nt.ver")
        #expect(nodeTableError([.unsigned(1)])?.field == "nt.nodes[0]")
        let many = (0..<5).map { node(UInt64($0)) }
        #expect(nodeTableError(many, limits: WireLimits(maxNodes: 4))?.code == .tooLarge)
        #expect(nodeTableError(many, limits: WireLimits(maxNodes: 5)) == nil)
        let ranged = [node(1, ranges: [range(0, 1), range(1, 2), range(2, 3)])]
        #expect(nodeTableError(ranged, limits: WireLimits(maxRangesPerNode: 2))?.code == .tooLarge)
        let clock = replacing(heartbeat, "clk", with: .array([.signed(1), .signed(2), .signed(3)]))
        #expect(headerError(clock, limits: WireLimits(maxNodes: 2))?.code == .tooLarge)
    }
}
