import Testing
import ZeroMQ

@testable import ParameterServer

/// The one-pass scanner of data headers against the full msgpack-c decoder: whatever the scanner
/// accepts, the full decoder decodes to the same header.
@Suite("Header scanner")
struct HeaderScannerTests {
    /// Integers at the edges of msgpack's forms.
    private static let edges: [UInt64] = [
        0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x1_0000, 0xffff_ffff, 0x1_0000_0000, UInt64(Int64.max), .max,
    ]
    private static let signedEdges: [Int64] = [
        0, 1, -1, -32, -33, -128, -129, -32768, -32769, Int64(Int32.min), Int64(Int32.min) - 1, .min, .max,
    ]

    /// A data header with each field drawn from the edges (some out of their field's range).
    private static func randomHeader(using random: inout WireRandom) -> [(String, WirePackValue)] {
        func edge() -> WirePackValue { .unsigned(edges.randomElement(using: &random)!) }
        func small(_ values: ClosedRange<UInt64>) -> WirePackValue { .unsigned(UInt64.random(in: values, using: &random)) }
        var entries: [(String, WirePackValue)] = [
            ("v", .unsigned(1)),
            ("k", Int.random(in: 0..<4, using: &random) == 0 ? small(1...40) : .unsigned(UInt64(MessageKind.allCases.randomElement(using: &random)!.rawValue))), ("s", Bool.random(using: &random) ? small(0...40) : edge()),
            ("id", edge()),
        ]
        for key in ["t", "ts", "f", "n", "vl", "role", "rank", "ec", "kh", "fa", "it", "tv", "r"] where Int.random(in: 0..<3, using: &random) == 0 {
            let value: WirePackValue
            switch key {
            case "ts", "it": value = .signed(signedEdges.randomElement(using: &random)!)
            case "f": value = Bool.random(using: &random) ? .unsigned(0) : small(0...63)
            case "n": value = Bool.random(using: &random) ? small(0...2000) : edge()
            case "vl": value = Bool.random(using: &random) ? small(0...8) : edge()
            case "role": value = small(0...3)
            case "fa": value = small(0...3)
            case "r": value = .array([edge(), edge()])
            default: value = edge()
            }
            entries.append((key, value))
        }
        return entries
    }

    /// Whatever the scanner makes of `bytes` must be what the full decoder makes of them.
    private static func agree(_ bytes: [UInt8]) -> (scanned: Bool, agrees: Bool) {
        bytes.withUnsafeBytes { raw in
            let full = Result { () throws(WireError) in try HeaderCodec.decodeInFull(raw) }
            guard let scanned = HeaderScanner.header(raw, limits: .default) else { return (false, true) }
            guard case .success(let header) = full else { return (true, false) }
            return (true, header == scanned)
        }
    }

    @Test("the headers of every sample message decode the same either way; data headers are scanned")
    func samplesAgree() throws {
        var scanned = 0
        for (name, message) in WireSamples.all {
            let bytes = HeaderCodec.encode(message.header).bytes
            let outcome = Self.agree(bytes)
            #expect(outcome.agrees, "\(name): the scanner and the full decoder disagree")
            if outcome.scanned { scanned += 1 }
            #expect(try HeaderCodec.decode(bytes) == message.header, "\(name)")
        }
        #expect(scanned > 0)
        // The headers a worker and a server send on the request path take the scanner.
        var push = Header(kind: .push, sender: NodeID(3), requestID: 70_000, table: 1, timestamp: -5, keyCount: 1000, valueLength: 1)
        push.tableVersion = 9
        push.keyCacheHash = .max
        var reply = Header(kind: .pullReply, sender: NodeID(1), requestID: 70_000, table: 1, timestamp: 1 << 40, keyCount: 1000, valueLength: 4)
        reply.iteration = 12
        for header in [push, reply, Header(kind: .pushAck, sender: NodeID(1), requestID: 1)] {
            let bytes = HeaderCodec.encode(header).bytes
            #expect(bytes.withUnsafeBytes { HeaderScanner.header($0, limits: .default) } == header)
        }
    }

    @Test("20,000 random data headers and 100,000 mutations of the valid ones: the scanner agrees with the full decoder")
    func randomAndMutatedAgree() {
        var random = WireRandom(seed: 0x5CA7)
        var scanned = 0
        var scannedMutations = 0
        var declined = 0
        var disagreements: [String] = []
        var headers: [[UInt8]] = []
        for _ in 0..<20_000 {
            let bytes = WirePackValue.map(Self.randomHeader(using: &random)).bytes
            let outcome = Self.agree(bytes)
            if !outcome.agrees, disagreements.count < 3 { disagreements.append("header \(bytes)") }
            if outcome.scanned {
                scanned += 1
                headers.append(bytes)
            } else {
                declined += 1
            }
        }
        let interesting: [UInt8] = [0x00, 0x7f, 0x80, 0x8f, 0x92, 0xa0, 0xa2, 0xbf, 0xc0, 0xcc, 0xcf, 0xd0, 0xd3, 0xde, 0xdf, 0xe0, 0xff]
        for _ in 0..<100_000 {
            var bytes = headers.randomElement(using: &random)!
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                let position = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<4, using: &random) {
                case 0: bytes[position] = interesting.randomElement(using: &random)!
                case 1: bytes[position] ^= UInt8(1) << UInt8.random(in: 0...7, using: &random)
                case 2: bytes.removeSubrange(position...)
                default: bytes.insert(interesting.randomElement(using: &random)!, at: position)
                }
                if bytes.isEmpty { bytes = [0x80] }
            }
            let outcome = Self.agree(bytes)
            if !outcome.agrees, disagreements.count < 3 { disagreements.append("mutation \(bytes)") }
            if outcome.scanned { scannedMutations += 1 }
        }
        #expect(disagreements.isEmpty, "the scanner and the full decoder disagree on \(disagreements)")
        // Both outcomes are reached, or the comparison is blind.
        #expect(scanned > 1_000)
        #expect(declined > 1_000)
        #expect(scannedMutations > 1_000)
    }

    @Test("forms msgpack allows that the scanner leaves to the full decoder still decode")
    func declinedFormsDecode() throws {
        // `id` as a positive int8 and `n` as a uint64 of a small value: valid msgpack, not the
        // smallest form, and a key this build does not know.
        let bytes: [UInt8] =
            [0x86, 0xa1, 0x76, 0x01, 0xa1, 0x6b, 0x11, 0xa1, 0x73, 0x02, 0xa2, 0x69, 0x64, 0xd0, 0x05]
            + [0xa1, 0x6e, 0xcf, 0, 0, 0, 0, 0, 0, 0, 3] + [0xa3, 0x6e, 0x65, 0x77, 0xc0]
        let outcome = Self.agree(bytes)
        #expect(!outcome.scanned)
        let header = try HeaderCodec.decode(bytes)
        #expect(header.kind == .pushAck)
        #expect(header.requestID == 5)
        #expect(header.keyCount == 3)
        #expect(header.sender == NodeID(2))
    }
}
