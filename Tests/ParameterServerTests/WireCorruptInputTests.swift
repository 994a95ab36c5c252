import Testing
import ZeroMQ

@testable import ParameterServer

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
                #expect(wireDecodeError(frames)?.code == .malformedHeader, "\(name) cut at \(length)")
            }
            frames[0] = []
            #expect(wireDecodeError(frames) == WireError(.malformedFrame, field: "frame 0 (header)", "the header frame is empty"))
        }
        #expect(wireDecodeError([])?.code == .malformedFrame)
    }

    @Test("trailing bytes after the header map are rejected")
    func trailingBytes() {
        for (name, message) in WireSamples.all {
            var frames = WireSamples.byteFrames(message)
            frames[0] += [0x00]
            let error = wireDecodeError(frames)
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
            #expect(wireDecodeError([bytes]) != nil, "round \(round)")
        }
    }

    @Test("a top level that is not a map is rejected")
    func nonMapTopLevel() {
        for bytes: [UInt8] in [[0x01], [0x91, 0x01], [0xa1, 0x76], [0xc0], [0xdd, 0xff, 0xff, 0xff, 0xff]] {
            let error = wireDecodeError([bytes])
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
            let error = wireDecodeError([bytes])
            #expect(error?.code == .malformedHeader, "\(name)")
            #expect(error?.field == "header", "\(name)")
        }
        #expect(wireDecodeError([[0xdf, 0xff, 0xff, 0xff, 0xff]])?.detail.contains("declares 8589934590 entries") == true)
    }

    @Test("nesting deeper than the limit is rejected")
    func deepNesting() {
        var bytes: [UInt8] = [0x81, 0xa1, 0x78]
        bytes += [UInt8](repeating: 0x91, count: 40) + [0x00]
        let error = wireDecodeError([bytes])
        #expect(error?.code == .malformedHeader)
        #expect(error?.detail.contains("nesting deeper") == true)
        #expect(wireDecodeError([[0x81, 0xa1, 0x78, 0xc1]])?.detail.contains("0xc1") == true)
    }

    @Test("a header over the size limit is rejected as too large")
    func headerTooLarge() {
        let header = WirePackValue.map(heartbeat + [("pad", .string(String(repeating: "x", count: 300)))]).bytes
        let error = wireDecodeError([header], limits: WireLimits(maxHeaderBytes: 256))
        #expect(error?.code == .tooLarge)
        #expect(error?.field == "header")
        #expect(wireDecodeError([header]) == nil)
    }

    @Test("the version is checked first")
    func badVersion() {
        #expect(wireHeaderError(replacing(heartbeat, "v", with: .unsigned(2)))?.code == .unsupportedVersion)
        #expect(wireHeaderError(replacing(heartbeat, "v", with: .unsigned(0)))?.code == .unsupportedVersion)
        // A future version may change other fields, so it wins over their errors.
        let future = replacing(replacing(heartbeat, "v", with: .unsigned(7)), "k", with: .string("push"))
        #expect(wireHeaderError(future)?.code == .unsupportedVersion)
        #expect(wireHeaderError(replacing(heartbeat, "v", with: .string("1"))) == WireError(.malformedHeader, field: "v", "expected an unsigned integer, got a string"))
        #expect(wireHeaderError(replacing(heartbeat, "v", with: .unsigned(1 << 16)))?.code == .malformedHeader)
        #expect(wireHeaderError(Array(heartbeat.dropFirst())) == WireError(.missingField, field: "v", "the protocol version is missing"))
    }

    @Test("unknown kinds and roles are rejected")
    func unknownKindsAndRoles() {
        for raw: UInt64 in [0, 10, 15, 25, 30, 32, 255, 256, 1 << 40] {
            let error = wireHeaderError(replacing(heartbeat, "k", with: .unsigned(raw)))
            #expect(error?.code == .unknownKind, "kind \(raw)")
            #expect(error?.field == "k", "kind \(raw)")
        }
        let register = WireSamples.independentEntries(WireSamples.minimalHeader(.register))
        for raw: UInt64 in [4, 255, 1 << 33] {
            let error = wireHeaderError(replacing(register, "role", with: .unsigned(raw)))
            #expect(error?.code == .malformedHeader, "role \(raw)")
            #expect(error?.field == "role", "role \(raw)")
        }
    }

    @Test("every field rejects values of the wrong type")
    func wrongTypes() {
        let full = WireSamples.independentEntries(WireSamples.fullHeader(.push))
        #expect(wireHeaderError(full) == nil)
        let integerFields = ["v", "k", "s", "id", "t", "ts", "f", "n", "vl", "role", "rank", "ec"]
        let stringFields = ["u", "ep", "name", "em"]
        let containerFields = ["r", "nt", "clk"]
        let wrongForInteger: [WirePackValue] = [.string("1"), .double(1), .boolean(true), .null, .array([.unsigned(1)]), .binary([1])]
        let wrongForString: [WirePackValue] = [.unsigned(1), .binary([0x61]), .null, .array([]), .map([])]
        let wrongForContainer: [WirePackValue] = [.unsigned(1), .string("x"), .null]
        for field in integerFields + stringFields + containerFields {
            let wrongValues = integerFields.contains(field) ? wrongForInteger : stringFields.contains(field) ? wrongForString : wrongForContainer
            for wrong in wrongValues {
                let error = wireHeaderError(replacing(full, field, with: wrong))
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
            #expect(wireHeaderError(replacing(full, field, with: .unsigned(maximum))) == nil, "\(field) at its maximum")
            #expect(wireHeaderError(replacing(full, field, with: .unsigned(maximum + 1)))?.field == field, "\(field) over its maximum")
            let negative = wireHeaderError(replacing(full, field, with: .signed(-1)))
            #expect(negative?.code == .malformedHeader, "\(field) negative")
            #expect(negative?.detail.contains("negative") == true, "\(field) negative")
        }
        #expect(wireHeaderError(replacing(full, "f", with: .unsigned(1 << 32)))?.field == "f")
        #expect(wireHeaderError(replacing(full, "id", with: .signed(-1)))?.field == "id")
        #expect(wireHeaderError(replacing(full, "ts", with: .unsigned(UInt64(Int64.max) + 1)))?.field == "ts")
        #expect(wireHeaderError(replacing(full, "r", with: .array([.unsigned(5), .signed(-1)])))?.field == "r")
        #expect(wireHeaderError(replacing(full, "clk", with: .array([.unsigned(1), .unsigned(UInt64.max)])))?.field == "clk[1]")
    }

    @Test("key ranges must be two ordered bounds")
    func badKeyRanges() {
        let full = WireSamples.independentEntries(WireSamples.fullHeader(.pushAck))
        for bad: WirePackValue in [.array([]), .array([.unsigned(1)]), .array([.unsigned(1), .unsigned(2), .unsigned(3)]), .array([.unsigned(9), .unsigned(8)])] {
            let error = wireHeaderError(replacing(full, "r", with: bad))
            #expect(error?.code == .malformedHeader, "\(bad)")
            #expect(error?.field == "r", "\(bad)")
        }
    }

    @Test("duplicate and non-string keys are rejected")
    func duplicateKeys() {
        for field in ["v", "k", "s", "id", "t", "name"] {
            let value: WirePackValue = field == "name" ? .string("x") : heartbeat.first { $0.0 == field }?.1 ?? .unsigned(1)
            let error = wireHeaderError(heartbeat.filter { $0.0 != field } + [(field, value), (field, value)])
            #expect(error == WireError(.malformedHeader, field: field, "the key appears twice"), "\(field)")
        }
        let nonString = WirePackValue.nonStringKeyMap(heartbeat.map { (WirePackValue.string($0.0), $0.1) } + [(.unsigned(1), .unsigned(2))])
        #expect(wireDecodeError([nonString.bytes]) == WireError(.malformedHeader, field: "header", "key 4 of the header map is not a string"))
    }

    @Test("strings over the limit and invalid UTF-8 are rejected")
    func badStrings() {
        let register = WireSamples.independentEntries(WireSamples.minimalHeader(.register))
        let long = replacing(register, "ep", with: .string(String(repeating: "a", count: 101)))
        #expect(wireHeaderError(long, limits: WireLimits(maxStringBytes: 100))?.code == .tooLarge)
        #expect(wireHeaderError(long, limits: WireLimits(maxStringBytes: 101)) == nil)
        for invalid: [UInt8] in [[0xff], [0x61, 0xc3], [0xed, 0xa0, 0x80], [0xf0, 0x90, 0x80], [0xc0, 0xaf]] {
            let error = wireHeaderError(replacing(register, "ep", with: .rawString(invalid)))
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
                let error = wireHeaderError(entries.filter { $0.0 != field })
                #expect(error?.code == .missingField, "\(name) without \(field)")
                #expect(error?.field == field, "\(name) without \(field)")
            }
        }
    }

    @Test("flags that do not fit the kind are rejected")
    func misplacedFlags() {
        let pull = WireSamples.independentEntries(WireSamples.minimalHeader(.pull))
        #expect(wireHeaderError(replacing(pull, "f", with: .unsigned(UInt64(MessageFlags.hasLengths.rawValue))))?.field == "f")
        let push = WireSamples.independentEntries(WireSamples.minimalHeader(.push))
        #expect(wireHeaderError(replacing(push, "f", with: .unsigned(UInt64(MessageFlags.rangeRequest.rawValue))))?.field == "f")
        #expect(wireHeaderError(replacing(push, "vl", with: .unsigned(0)))?.field == "vl")
        let rangePull = pull.filter { $0.0 != "n" } + [("f", .unsigned(UInt64(MessageFlags.rangeRequest.rawValue)))]
        #expect(wireHeaderError(rangePull) == WireError(.missingField, field: "r", "a pull message requires it"))
    }

    @Test("n and vl over the limits are too large")
    func declaredSizesOverLimits() {
        let push = WireSamples.independentEntries(WireSamples.minimalHeader(.push))
        let limits = WireLimits(maxKeysPerMessage: 4, maxValueLength: 8)
        #expect(wireHeaderError(replacing(push, "n", with: .unsigned(5)), limits: limits)?.code == .tooLarge)
        #expect(wireHeaderError(replacing(push, "vl", with: .unsigned(9)), limits: limits)?.code == .tooLarge)
        #expect(wireHeaderError(replacing(push, "n", with: .unsigned(UInt64(UInt32.max))))?.code == .tooLarge)
        // n × vl × 4 over the frame limit is caught before the values frame is looked at.
        var frames = WireSamples.byteFrames(WireSamples.message(for: WireSamples.minimalHeader(.pullReply)))
        frames[0] = WirePackValue.map(replacing(WireSamples.independentEntries(WireSamples.minimalHeader(.pullReply)), "vl", with: .unsigned(65_536))).bytes
        #expect(wireDecodeError(frames, limits: WireLimits(maxFrameBytes: 1 << 20)) == WireError(
            .tooLarge, field: "frame 1 (values)",
            "n = 5 keys × vl = 65536 needs 1310720 bytes, over the frame limit of 1048576"))
    }

    @Test("node tables with bad nodes or ranges are rejected")
    func badNodeTables() {
        func nodeTableError(_ nodes: [WirePackValue], version: WirePackValue? = .unsigned(1), limits: WireLimits = .default) -> WireError? {
            var table: [(String, WirePackValue)] = [("nodes", .array(nodes))]
            if let version { table.insert(("ver", version), at: 0) }
            return wireHeaderError(heartbeat + [("nt", .map(table))], limits: limits)
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
        #expect(wireHeaderError(clock, limits: WireLimits(maxNodes: 2))?.code == .tooLarge)
    }

    @Test("node ids beyond maxNodeID are refused in s, org, node lists and chains; the unassigned id only in s")
    func nodeIDBounds() {
        let limits = WireLimits(maxNodeID: 9)
        func error(_ key: String, _ value: WirePackValue) -> (ErrorCode, String)? {
            wireHeaderError(replacing(heartbeat, key, with: value), limits: limits).map { ($0.code, $0.field) }
        }
        let unassigned = UInt64(NodeID.unassigned.rawValue)
        for id: UInt64 in [0, 1, 8, 9, unassigned] { #expect(error("s", .unsigned(id)) == nil, "s = \(id)") }
        for id: UInt64 in [10, 11, unassigned - 1] {
            #expect(error("s", .unsigned(id))! == (.tooLarge, "s"), "s = \(id)")
        }
        #expect(error("org", .array([.unsigned(9), .unsigned(9), .unsigned(1)])) == nil)
        for id: UInt64 in [10, unassigned] {
            #expect(error("org", .array([.unsigned(id), .unsigned(2), .unsigned(1)]))! == (.tooLarge, "org[0]"), "org server \(id)")
            #expect(error("org", .array([.unsigned(1), .unsigned(id), .unsigned(1)]))! == (.tooLarge, "org[1]"), "org sender \(id)")
        }
        func node(_ id: UInt64) -> WirePackValue {
            .map([("id", .unsigned(id)), ("role", .unsigned(1)), ("rank", .unsigned(0)), ("ep", .string("tcp://h:1"))])
        }
        func table(_ nodes: [WirePackValue], chains: [WirePackValue] = []) -> WirePackValue {
            .map([("ver", .unsigned(1)), ("nodes", .array(nodes)), ("chains", .array(chains))])
        }
        #expect(error("nt", table([node(1), node(9)])) == nil)
        for id: UInt64 in [10, unassigned] {
            #expect(error("nt", table([node(1), node(id)]))! == (.tooLarge, "nt.nodes[1].id"), "node \(id)")
            let chain: WirePackValue = .array([.unsigned(0), .unsigned(5), .unsigned(1), .unsigned(id)])
            #expect(error("nt", table([node(1)], chains: [chain]))! == (.tooLarge, "nt.chains[0][3]"), "chain node \(id)")
        }
        // `catchup` names a chain of `chains` and leaves it its primary.
        let chain: WirePackValue = .array([.unsigned(0), .unsigned(5), .unsigned(1), .unsigned(2), .unsigned(3)])
        func catchingUp(_ entries: [WirePackValue]) -> WirePackValue {
            .map([("ver", .unsigned(1)), ("nodes", .array([node(1)])), ("catchup", .array(entries)), ("chains", .array([chain]))])
        }
        #expect(error("nt", catchingUp([.array([.unsigned(0), .unsigned(5), .unsigned(2)])])) == nil)
        #expect(error("nt", catchingUp([.array([.unsigned(0), .unsigned(5), .unsigned(3)])]))! == (.malformedHeader, "nt.catchup[0][2]"))
        #expect(error("nt", catchingUp([.array([.unsigned(0), .unsigned(5), .unsigned(0)])]))! == (.malformedHeader, "nt.catchup[0][2]"))
        #expect(error("nt", catchingUp([.array([.unsigned(0), .unsigned(6), .unsigned(1)])]))! == (.malformedHeader, "nt.catchup[0]"))
        #expect(error("nt", catchingUp([.array([.unsigned(0), .unsigned(5)])]))! == (.malformedHeader, "nt.catchup[0]"))
        let twice: WirePackValue = .array([.unsigned(0), .unsigned(5), .unsigned(1)])
        #expect(error("nt", catchingUp([twice, twice]))! == (.tooLarge, "nt.catchup"))
        #expect(WireLimits(maxNodeID: Int(NodeID.unassigned.rawValue)).validateError?.field == "maxNodeID")
        #expect(WireLimits(maxNodeID: 0).validateError?.field == "maxNodeID")
        #expect(WireLimits.default.validateError == nil)
    }
}

extension WireLimits {
    /// The error ``validate()`` throws, or `nil`.
    fileprivate var validateError: WireError? {
        do {
            try validate()
            return nil
        } catch {
            return error
        }
    }
}
