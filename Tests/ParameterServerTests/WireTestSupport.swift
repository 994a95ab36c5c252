import ParameterServer
import ZeroMQ

/// The seeded generator of the randomized wire tests, so that they replay exactly.
typealias WireRandom = SplitMix64

/// A msgpack value written by a small encoder of its own, independent of msgpack-c: it crafts
/// malformed headers and cross-checks what ``HeaderCodec`` writes.
indirect enum WirePackValue: Sendable {
    case unsigned(UInt64)
    case signed(Int64)
    case string(String)
    case rawString([UInt8])
    case binary([UInt8])
    case array([WirePackValue])
    case map([(String, WirePackValue)])
    case nonStringKeyMap([(WirePackValue, WirePackValue)])
    case double(Double)
    case boolean(Bool)
    case null

    /// The msgpack bytes, in the smallest encoding of each integer, length and container.
    var bytes: [UInt8] {
        var out: [UInt8] = []
        write(into: &out)
        return out
    }

    func write(into out: inout [UInt8]) {
        switch self {
        case .unsigned(let value): Self.writeUnsigned(value, into: &out)
        case .signed(let value):
            if value >= 0 {
                Self.writeUnsigned(UInt64(value), into: &out)
            } else if value >= -32 {
                out.append(UInt8(bitPattern: Int8(value)))
            } else if value >= Int64(Int8.min) {
                out += [0xd0, UInt8(bitPattern: Int8(value))]
            } else if value >= Int64(Int16.min) {
                out.append(0xd1)
                Self.bigEndian(UInt64(UInt16(bitPattern: Int16(value))), width: 2, into: &out)
            } else if value >= Int64(Int32.min) {
                out.append(0xd2)
                Self.bigEndian(UInt64(UInt32(bitPattern: Int32(value))), width: 4, into: &out)
            } else {
                out.append(0xd3)
                Self.bigEndian(UInt64(bitPattern: value), width: 8, into: &out)
            }
        case .string(let text): Self.writeString(Array(text.utf8), into: &out)
        case .rawString(let bytes): Self.writeString(bytes, into: &out)
        case .binary(let bytes):
            out += [0xc4, UInt8(bytes.count)]
            out += bytes
        case .array(let elements):
            Self.writeContainer(count: elements.count, fix: 0x90, sixteen: 0xdc, into: &out)
            for element in elements { element.write(into: &out) }
        case .map(let entries):
            Self.writeContainer(count: entries.count, fix: 0x80, sixteen: 0xde, into: &out)
            for (key, value) in entries {
                WirePackValue.string(key).write(into: &out)
                value.write(into: &out)
            }
        case .nonStringKeyMap(let entries):
            Self.writeContainer(count: entries.count, fix: 0x80, sixteen: 0xde, into: &out)
            for (key, value) in entries {
                key.write(into: &out)
                value.write(into: &out)
            }
        case .double(let value):
            out.append(0xcb)
            Self.bigEndian(value.bitPattern, width: 8, into: &out)
        case .boolean(let value): out.append(value ? 0xc3 : 0xc2)
        case .null: out.append(0xc0)
        }
    }

    private static func writeUnsigned(_ value: UInt64, into out: inout [UInt8]) {
        switch value {
        case 0..<128: out.append(UInt8(value))
        case 128..<256: out += [0xcc, UInt8(value)]
        case 256..<65536:
            out.append(0xcd)
            bigEndian(value, width: 2, into: &out)
        case 65536..<(1 << 32):
            out.append(0xce)
            bigEndian(value, width: 4, into: &out)
        default:
            out.append(0xcf)
            bigEndian(value, width: 8, into: &out)
        }
    }

    private static func writeString(_ bytes: [UInt8], into out: inout [UInt8]) {
        switch bytes.count {
        case 0..<32: out.append(0xa0 | UInt8(bytes.count))
        case 32..<256: out += [0xd9, UInt8(bytes.count)]
        case 256..<65536:
            out.append(0xda)
            bigEndian(UInt64(bytes.count), width: 2, into: &out)
        default:
            out.append(0xdb)
            bigEndian(UInt64(bytes.count), width: 4, into: &out)
        }
        out += bytes
    }

    private static func writeContainer(count: Int, fix: UInt8, sixteen: UInt8, into out: inout [UInt8]) {
        if count < 16 {
            out.append(fix | UInt8(count))
        } else if count < 65536 {
            out.append(sixteen)
            bigEndian(UInt64(count), width: 2, into: &out)
        } else {
            out.append(sixteen + 1)
            bigEndian(UInt64(count), width: 4, into: &out)
        }
    }

    private static func bigEndian(_ value: UInt64, width: Int, into out: inout [UInt8]) {
        for shift in stride(from: (width - 1) * 8, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }
}

/// Valid messages of every kind, with payloads that agree with their headers.
enum WireSamples {
    static let nodeTable = NodeTable(
        version: 12,
        nodes: [
            NodeInfo(id: .manager, role: .manager, rank: 0, endpoint: "tcp://127.0.0.1:40000"),
            NodeInfo(
                id: NodeID(1), role: .server, rank: 0, endpoint: "tcp://127.0.0.1:40001",
                ranges: [KeyRange(0, 1 << 20), KeyRange(1 << 30, 1 << 31)]),
            NodeInfo(
                id: NodeID(2), role: .server, rank: 1, endpoint: "tcp://127.0.0.1:40002",
                ranges: [KeyRange(1 << 20, 1 << 30), KeyRange(1 << 31, UInt64.max)]),
            NodeInfo(id: NodeID(3), role: .worker, rank: 0, endpoint: "tcp://[::1]:40003"),
            NodeInfo(id: NodeID(9), role: .client, rank: 0, endpoint: "ipc:///tmp/zps-client"),
        ],
        chains: [
            ReplicaChain(range: KeyRange(0, 1 << 20), nodes: [NodeID(1), NodeID(2)]),
            ReplicaChain(range: KeyRange(1 << 20, 1 << 30), nodes: [NodeID(2), NodeID(1)], catchingUp: 1),
        ])

    /// The keys of every sample with a keys frame: inside `fullHeader`'s range `[10, 100000)`.
    static let keys: [UInt64] = [10, 11, 500, 4096, 99_999]

    /// A header with only what `kind` requires (and what the payload needs), nothing optional.
    static func minimalHeader(_ kind: MessageKind, flags: MessageFlags = []) -> Header {
        var header = Header(kind: kind, sender: NodeID(3), requestID: 77)
        header.flags = flags
        switch kind {
        case .register:
            header.role = .worker
            header.rank = 2
            header.endpoint = "tcp://127.0.0.1:5555"
        case .nodeTable: header.nodeTable = nodeTable
        case .barrier, .barrierRelease: header.name = "epoch-1"
        case .workerDone: header.name = "auc=0.79 logloss=0.45"
        case .replicate:
            header.table = 1
            header.keyCount = UInt32(keys.count)
            header.valueLength = 2
            header.origin = RequestOrigin(server: NodeID(1), sender: NodeID(3), requestID: 41)
            header.clockRecords = [ClockRecord(node: 3, range: KeyRange(0, 1 << 20), timestamp: Timestamp(7))]
        case .push, .pullReply:
            header.table = 1
            header.keyCount = UInt32(keys.count)
            header.valueLength = flags.contains(.hasLengths) ? 0 : 2
            if flags.contains(.rangeRequest) { header.keyRange = KeyRange(0, 1 << 20) }
        case .pull:
            header.table = 1
            if flags.contains(.rangeRequest) {
                header.keyRange = KeyRange(0, 1 << 20)
            } else {
                header.keyCount = UInt32(keys.count)
            }
        case .error: header.errorCode = .unsortedKeys
        case .rangeFunction:
            header.table = 1
            header.keyRange = KeyRange(0, 1 << 20)
            header.updater = "scale"
        case .rangeFunctionAck: header.table = 1
        case .replicaReady:
            header.keyRange = KeyRange(0, 1 << 20)
            header.tableVersion = 3
        case .heartbeat, .shutdown, .shutdownAck, .leave, .pushAck, .replicateAck: break
        }
        return header
    }

    /// A header with every field set (flags may add `hasLengths` / `rangeRequest` where they fit).
    static func fullHeader(_ kind: MessageKind, flags: MessageFlags = []) -> Header {
        var header = minimalHeader(kind, flags: flags)
        header.sender = NodeID(UInt32(WireLimits.default.maxNodeID))
        header.requestID = UInt64.max
        header.table = UInt32.max
        header.timestamp = Int64.min
        header.keyRange = KeyRange(10, 100_000)
        header.flags = flags.union([.wantClock, .retry, MessageFlags(rawValue: 1 << 20)])
        if kind.payload == .none || kind.payload == .keys && flags.contains(.rangeRequest) {
            header.keyCount = 1_000
            header.valueLength = 65_536
        }
        header.updater = "adagrad"
        header.role = .client
        header.rank = UInt32.max
        header.endpoint = "tcp://10.0.0.1:6000"
        header.nodeTable = nodeTable
        header.name = "naïve 名前 ✓"
        header.errorCode = ErrorCode(rawValue: 65_535)
        header.errorMessage = "a message with \"quotes\" and\nnewlines"
        header.clock = [0, 1, -1, Int64.max, Int64.min]
        header.origin = RequestOrigin(server: NodeID(UInt32(WireLimits.default.maxNodeID)), sender: NodeID(7), requestID: UInt64.max)
        header.tableVersion = UInt64.max
        header.clockRecords = [
            ClockRecord(node: WireLimits.default.maxNodeID, range: KeyRange(0, UInt64.max), timestamp: Timestamp(Int64.max)),
            ClockRecord(node: 1, range: KeyRange(UInt64.max - 1, UInt64.max), timestamp: Timestamp(1)),
        ]
        return header
    }

    /// A message for `header` whose payload frames match its layout.
    static func message(for header: Header) -> Message {
        let layout = PayloadLayout(for: header)
        var message = Message(header: header)
        let count = Int(header.keyCount)
        if layout.hasKeys { message.keys = Frame(array: Array(keys.prefix(count))) }
        if layout.hasLengths {
            let lengths = (0..<count).map { UInt32($0 % 3) }
            message.lengths = Frame(array: lengths)
            let total = Int(lengths.reduce(0, +))
            message.values = Frame(array: (0..<total).map { Float($0) * 0.5 - 1 })
        } else if layout.hasValues {
            message.values = Frame(array: (0..<(count * Int(header.valueLength))).map { Float($0) * 0.25 })
        }
        return message
    }

    /// Every kind with its minimal and full header, plus the flag variants that change the layout.
    static var all: [(String, Message)] {
        var result: [(String, Message)] = []
        for kind in MessageKind.allCases {
            result.append(("minimal \(kind)", message(for: minimalHeader(kind))))
            result.append(("full \(kind)", message(for: fullHeader(kind))))
        }
        for kind in [MessageKind.push, .pullReply] {
            result.append(("minimal \(kind) hasLengths", message(for: minimalHeader(kind, flags: .hasLengths))))
            result.append(("full \(kind) hasLengths", message(for: fullHeader(kind, flags: .hasLengths))))
        }
        for kind in [MessageKind.pull, .pullReply] {
            result.append(("minimal \(kind) rangeRequest", message(for: minimalHeader(kind, flags: .rangeRequest))))
            result.append(("full \(kind) rangeRequest", message(for: fullHeader(kind, flags: .rangeRequest))))
        }
        result.append((
            "full pullReply rangeRequest hasLengths",
            message(for: fullHeader(.pullReply, flags: [.rangeRequest, .hasLengths]))
        ))
        return result
    }

    /// The frames of a message as byte arrays, which tests can corrupt.
    static func byteFrames(_ message: Message) -> [[UInt8]] {
        MessageCodec.encode(message).map(\.bytes)
    }

    /// Decodes byte arrays as frames.
    static func decode(_ frames: [[UInt8]], limits: WireLimits = .default) throws(WireError) -> Message {
        try MessageCodec.decode(frames.map { Frame(bytes: $0) }, limits: limits)
    }

    /// The header map of `header` as written by the independent encoder, in the codec's key order.
    static func independentEntries(_ header: Header) -> [(String, WirePackValue)] {
        let required: Set<String> = {
            switch header.kind {
            case .push, .pullReply: return ["t", "n", "vl"]
            case .pull: return header.flags.contains(.rangeRequest) ? ["t", "r"] : ["t", "n"]
            default: return []
            }
        }()
        var entries: [(String, WirePackValue)] = [
            ("v", .unsigned(UInt64(header.version))), ("k", .unsigned(UInt64(header.kind.rawValue))),
            ("s", .unsigned(UInt64(header.sender.rawValue))), ("id", .unsigned(header.requestID)),
        ]
        if header.table != 0 || required.contains("t") { entries.append(("t", .unsigned(UInt64(header.table)))) }
        if header.timestamp != 0 { entries.append(("ts", .signed(header.timestamp))) }
        if let range = header.keyRange {
            entries.append(("r", .array([.unsigned(range.lowerBound), .unsigned(range.upperBound)])))
        }
        if header.flags.rawValue != 0 { entries.append(("f", .unsigned(UInt64(header.flags.rawValue)))) }
        if header.keyCount != 0 || required.contains("n") { entries.append(("n", .unsigned(UInt64(header.keyCount)))) }
        if header.valueLength != 0 || required.contains("vl") {
            entries.append(("vl", .unsigned(UInt64(header.valueLength))))
        }
        if let updater = header.updater { entries.append(("u", .string(updater))) }
        if let role = header.role { entries.append(("role", .unsigned(UInt64(role.rawValue)))) }
        if let rank = header.rank { entries.append(("rank", .unsigned(UInt64(rank)))) }
        if let endpoint = header.endpoint { entries.append(("ep", .string(endpoint))) }
        if let table = header.nodeTable {
            let nodes: [WirePackValue] = table.nodes.map { node in
                .map([
                    ("id", .unsigned(UInt64(node.id.rawValue))), ("role", .unsigned(UInt64(node.role.rawValue))),
                    ("rank", .unsigned(UInt64(node.rank))), ("ep", .string(node.endpoint)),
                    ("ranges", .array(node.ranges.map { .array([.unsigned($0.lowerBound), .unsigned($0.upperBound)]) })),
                ])
            }
            var fields: [(String, WirePackValue)] = [("ver", .unsigned(table.version)), ("nodes", .array(nodes))]
            if !table.chains.isEmpty {
                fields.append(("chains", .array(table.chains.map { chain in
                    .array([.unsigned(chain.range.lowerBound), .unsigned(chain.range.upperBound)]
                        + chain.nodes.map { .unsigned(UInt64($0.rawValue)) })
                })))
            }
            let catchingUp = table.chains.filter { $0.catchingUp > 0 }
            if !catchingUp.isEmpty {
                fields.append(("catchup", .array(catchingUp.map { chain in
                    .array([.unsigned(chain.range.lowerBound), .unsigned(chain.range.upperBound), .unsigned(UInt64(chain.catchingUp))])
                })))
            }
            entries.append(("nt", .map(fields)))
        }
        if let name = header.name { entries.append(("name", .string(name))) }
        if let code = header.errorCode { entries.append(("ec", .unsigned(UInt64(code.rawValue)))) }
        if let message = header.errorMessage { entries.append(("em", .string(message))) }
        if let clock = header.clock { entries.append(("clk", .array(clock.map { .signed($0) }))) }
        if let origin = header.origin {
            entries.append(("org", .array([
                .unsigned(UInt64(origin.server.rawValue)), .unsigned(UInt64(origin.sender.rawValue)), .unsigned(origin.requestID),
            ])))
        }
        if let version = header.tableVersion { entries.append(("tv", .unsigned(version))) }
        if !header.clockRecords.isEmpty {
            entries.append(("vc", .array(header.clockRecords.flatMap { record -> [WirePackValue] in
                [.unsigned(UInt64(record.node)), .unsigned(record.range.lowerBound), .unsigned(record.range.upperBound), .signed(record.timestamp.rawValue)]
            })))
        }
        return entries
    }
}

/// Hex text of bytes, two digits each, space-separated.
func wireHex(_ bytes: [UInt8]) -> String {
    bytes.map { byte in
        let digits = String(byte, radix: 16)
        return digits.count == 1 ? "0" + digits : digits
    }.joined(separator: " ")
}

/// The error a decode throws, or `nil` when it succeeds.
func wireDecodeError(_ frames: [[UInt8]], limits: WireLimits = .default) -> WireError? {
    do {
        _ = try WireSamples.decode(frames, limits: limits)
        return nil
    } catch {
        return error
    }
}

/// The error decoding a header map made by the independent encoder throws.
func wireHeaderError(_ entries: [(String, WirePackValue)], limits: WireLimits = .default) -> WireError? {
    do {
        _ = try HeaderCodec.decode(WirePackValue.map(entries).bytes, limits: limits)
        return nil
    } catch {
        return error
    }
}
