import Testing
import ZeroMQ

@testable import ParameterServer

@Suite("Wire codec round trips")
struct WireCodecTests {
    @Test("every kind, with optional fields set and unset, decodes to the same header and bytes")
    func roundTripEveryKind() throws {
        for (name, message) in WireSamples.all {
            let frames = MessageCodec.encode(message)
            let decoded = try MessageCodec.decode(frames)
            #expect(decoded.header == message.header, "\(name)")
            #expect(decoded.keys == message.keys, "\(name)")
            #expect(decoded.values == message.values, "\(name)")
            #expect(decoded.lengths == message.lengths, "\(name)")
            #expect(frames.count == 1 + PayloadLayout(for: message.header).frameCount, "\(name)")
        }
    }

    @Test("the samples cover every kind and every payload layout")
    func samplesCoverEveryKind() {
        let kinds = Set(WireSamples.all.map(\.1.header.kind))
        #expect(kinds == Set(MessageKind.allCases))
        let layouts = Set(WireSamples.all.map { PayloadLayout(for: $0.1.header) })
        #expect(layouts.count == 6)
    }

    @Test("payload frames pass through encode and decode without a copy")
    func payloadIsZeroCopy() throws {
        let message = WireSamples.message(for: WireSamples.fullHeader(.push, flags: .hasLengths))
        let frames = MessageCodec.encode(message)
        func address(_ frame: Frame?) -> UnsafeRawPointer? { frame?.withUnsafeBytes { $0.baseAddress } }
        #expect(address(frames[1]) == address(message.keys))
        #expect(address(frames[2]) == address(message.values))
        #expect(address(frames[3]) == address(message.lengths))
        let decoded = try MessageCodec.decode(frames)
        #expect(address(decoded.keys) == address(message.keys))
        #expect(address(decoded.values) == address(message.values))
        #expect(address(decoded.lengths) == address(message.lengths))
    }

    @Test("a ROUTER identity frame is stripped with dropFirst before decoding")
    func decodesSlices() throws {
        let message = WireSamples.message(for: WireSamples.minimalHeader(.pull))
        let received = [Frame(string: "peer-identity")] + MessageCodec.encode(message)
        let decoded = try MessageCodec.decode(received.dropFirst())
        #expect(decoded.header == message.header)
        #expect(decoded.keys == message.keys)
    }

    @Test("the codec writes exactly what an independent msgpack encoder writes")
    func matchesIndependentEncoder() {
        for (name, message) in WireSamples.all {
            let expected = WirePackValue.map(WireSamples.independentEntries(message.header)).bytes
            #expect(HeaderCodec.encode(message.header).bytes == expected, "\(name)")
        }
    }

    @Test("the push header example of docs/PROTOCOL.md")
    func documentedPushExample() throws {
        let header = Header(
            kind: .push, sender: NodeID(3), requestID: 42, table: 1, timestamp: 7, keyCount: 3, valueLength: 1)
        let bytes = HeaderCodec.encode(header).bytes
        #expect(
            wireHex(bytes)
                == "88 a1 76 01 a1 6b 10 a1 73 03 a2 69 64 2a a1 74 01 a2 74 73 07 a1 6e 03 a2 76 6c 01")
        #expect(try HeaderCodec.decode(bytes) == header)
        let message = Message(
            header: header, keys: KeyFrame([3, 7, 42]).frame, values: ValueFrame([0.5, -1.0, 2.0]).frame)
        let frames = MessageCodec.encode(message).map(\.bytes)
        #expect(wireHex(frames[1]) == "03 00 00 00 00 00 00 00 07 00 00 00 00 00 00 00 2a 00 00 00 00 00 00 00")
        #expect(wireHex(frames[2]) == "00 00 00 3f 00 00 80 bf 00 00 00 40")
        #expect(try MessageCodec.decode(MessageCodec.encode(message)).header == header)

        let register = Header(kind: .register, role: .client, rank: 0, endpoint: "tcp://127.0.0.1:7000")
        #expect(
            wireHex(HeaderCodec.encode(register).bytes)
                == "87 a1 76 01 a1 6b 01 a1 73 ce ff ff ff ff a2 69 64 00 a4 72 6f 6c 65 03 a4 72 61 6e 6b 00 a2 65 70 b4 74 63 70 3a 2f 2f 31 32 37 2e 30 2e 30 2e 31 3a 37 30 30 30")

        let full = Header(
            kind: .push, sender: NodeID(5), requestID: 1000, table: 0, timestamp: 12, keyRange: KeyRange(0, 1 << 32),
            flags: .retry, keyCount: 2, valueLength: 4, updater: "sgd")
        #expect(
            wireHex(HeaderCodec.encode(full).bytes)
                == "8b a1 76 01 a1 6b 10 a1 73 05 a2 69 64 cd 03 e8 a1 74 00 a2 74 73 0c a1 72 92 00 cf 00 00 00 01 00 00 00 00 a1 66 04 a1 6e 02 a2 76 6c 04 a1 75 a3 73 67 64")
    }

    @Test("keys in any order, unknown keys and unknown flag bits are accepted")
    func forwardCompatible() throws {
        let bytes = WirePackValue.map([
            ("future", .array([.map([("deep", .null)]), .double(1.5), .binary([1, 2, 3])])),
            ("id", .unsigned(9)), ("s", .unsigned(4)), ("k", .unsigned(3)), ("v", .unsigned(1)),
            ("f", .unsigned(1 << 31)), ("zz", .boolean(true)),
        ]).bytes
        let header = try HeaderCodec.decode(bytes)
        #expect(header == Header(kind: .heartbeat, sender: NodeID(4), requestID: 9, flags: MessageFlags(rawValue: 1 << 31)))
    }

    @Test("integers in wider or signed encodings than needed are accepted")
    func nonCanonicalIntegers() throws {
        let bytes: [UInt8] = [
            0x84,
            0xa1, 0x76, 0xcf, 0, 0, 0, 0, 0, 0, 0, 1,  // "v": uint64 1
            0xa1, 0x6b, 0xd0, 0x03,  // "k": int8 3
            0xa1, 0x73, 0xd1, 0x00, 0x04,  // "s": int16 4
            0xa2, 0x69, 0x64, 0xd3, 0, 0, 0, 0, 0, 0, 0, 9,  // "id": int64 9
        ]
        #expect(try HeaderCodec.decode(bytes) == Header(kind: .heartbeat, sender: NodeID(4), requestID: 9))
    }

    @Test("extreme integers survive: Int64.min timestamps, UInt64.max ids and bounds")
    func extremeIntegers() throws {
        for timestamp in [Int64.min, -33, -32, -1, 0, 127, 128, Int64.max] {
            let header = Header(
                kind: .pushAck, sender: NodeID(UInt32.max), requestID: .max, table: .max, timestamp: timestamp,
                keyRange: KeyRange(UInt64.max, UInt64.max))
            #expect(try HeaderCodec.decode(HeaderCodec.encode(header)) == header)
        }
    }

    @Test("a header spills from the stack buffer to the heap and back intact")
    func largeHeader() throws {
        let nodes = (0..<300).map { (index: Int) -> NodeInfo in
            let lower = UInt64(index) << 40
            let upper = UInt64(index + 1) << 40
            let endpoint = "tcp://192.168.1.\(index % 250):\(40000 + index)"
            return NodeInfo(
                id: NodeID(UInt32(index)), role: .server, rank: UInt32(index), endpoint: endpoint,
                ranges: [KeyRange(lower, upper)])
        }
        let header = Header(kind: .nodeTable, sender: .manager, nodeTable: NodeTable(version: 3, nodes: nodes))
        let frame = HeaderCodec.encode(header)
        #expect(frame.count > PackBuffer.stackCapacity)
        #expect(try HeaderCodec.decode(frame) == header)
    }

    @Test("a header at an odd address decodes")
    func unalignedHeader() throws {
        let header = WireSamples.fullHeader(.push)
        let bytes = [0xee] + HeaderCodec.encode(header).bytes
        let decoded = try bytes.withUnsafeBytes { raw in
            try HeaderCodec.decode(UnsafeRawBufferPointer(rebasing: raw[1...]))
        }
        #expect(decoded == header)
    }

    @Test("the payload layout follows kind and flags")
    func payloadLayout() {
        func layout(_ kind: MessageKind, _ flags: MessageFlags = []) -> [Int?] {
            let layout = PayloadLayout(for: Header(kind: kind, flags: flags))
            return [layout.keysFrameIndex, layout.valuesFrameIndex, layout.lengthsFrameIndex]
        }
        #expect(layout(.push) == [1, 2, nil])
        #expect(layout(.push, .hasLengths) == [1, 2, 3])
        #expect(layout(.pull) == [1, nil, nil])
        #expect(layout(.pull, .rangeRequest) == [nil, nil, nil])
        #expect(layout(.pullReply) == [nil, 1, nil])
        #expect(layout(.pullReply, .hasLengths) == [nil, 1, 2])
        #expect(layout(.pullReply, .rangeRequest) == [1, 2, nil])
        #expect(layout(.pullReply, [.rangeRequest, .hasLengths]) == [1, 2, 3])
        for kind in MessageKind.allCases where kind.payload == .none {
            #expect(layout(kind, [.hasLengths, .rangeRequest]) == [nil, nil, nil])
        }
    }

    @Test("a header whose strings and arrays were set and then cleared equals and hashes as one that never had them")
    func clearedFieldsLeaveNoTrace() throws {
        let plain = Header(kind: .push, sender: NodeID(3), requestID: 9, table: 1, keyCount: 2, valueLength: 1)
        var touched = plain
        touched.updater = "sgd"
        touched.clock = [1, 2]
        touched.segments = [KeyRange(0, 10)]
        touched.origin = RequestOrigin(server: NodeID(1), sender: NodeID(3), requestID: 4)
        #expect(touched != plain)
        // A copy keeps what it had while the original changes.
        var copy = touched
        touched.updater = nil
        touched.clock = nil
        touched.segments = []
        touched.origins = []
        #expect(touched == plain)
        #expect(touched.hashValue == plain.hashValue)
        #expect(copy.updater == "sgd" && copy.clock == [1, 2] && copy.segments == [KeyRange(0, 10)] && copy.origins.count == 1)
        copy.updater = "add"
        #expect(copy.updater == "add" && copy.clock == [1, 2])
        // Decoding an encoded header without them gives the same value.
        #expect(try HeaderCodec.decode(HeaderCodec.encode(touched)) == plain)
    }
}
