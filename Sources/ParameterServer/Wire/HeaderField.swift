/// The keys of the header map, as written on the wire. The raw value is the field's bit in the
/// decoder's seen-set, which is how duplicate keys are caught.
enum HeaderField: UInt8, CaseIterable {
    case version, kind, sender, requestID, table, timestamp, keyRange, flags, keyCount, valueLength
    case updater, role, rank, endpoint, nodeTable, name, errorCode, errorMessage, clock
    case keyCacheHash, compressedSizes, acceptedEncodings, arguments
    case iteration
    case origin, tableVersion, clockRecords
    case segments

    /// The key on the wire.
    var key: StaticString {
        switch self {
        case .version: return "v"
        case .kind: return "k"
        case .sender: return "s"
        case .requestID: return "id"
        case .table: return "t"
        case .timestamp: return "ts"
        case .keyRange: return "r"
        case .flags: return "f"
        case .keyCount: return "n"
        case .valueLength: return "vl"
        case .updater: return "u"
        case .role: return "role"
        case .rank: return "rank"
        case .endpoint: return "ep"
        case .nodeTable: return "nt"
        case .name: return "name"
        case .errorCode: return "ec"
        case .errorMessage: return "em"
        case .clock: return "clk"
        case .keyCacheHash: return "kh"
        case .compressedSizes: return "cz"
        case .acceptedEncodings: return "fa"
        case .arguments: return "a"
        case .iteration: return "it"
        case .origin: return "org"
        case .tableVersion: return "tv"
        case .clockRecords: return "vc"
        case .segments: return "sg"
        }
    }

    /// The key as a Swift string, for error messages. Looked up, not converted: the decoder takes
    /// it for every field of every header.
    var name: String { Self.names[Int(rawValue)] }

    private static let names = allCases.map { $0.key.description }

    /// The bit of this field in a seen-set.
    var bit: UInt32 { 1 << UInt32(rawValue) }

    /// The field a wire key names, or `nil` for a key this build does not know.
    ///
    /// A switch on the bytes rather than a dictionary, because it runs for every key of every header.
    static func named(_ bytes: UnsafeRawBufferPointer) -> HeaderField? {
        let count = bytes.count
        guard count >= 1, count <= 4 else { return nil }
        let b0 = bytes[0]
        switch count {
        case 1:
            switch b0 {
            case UInt8(ascii: "v"): return .version
            case UInt8(ascii: "k"): return .kind
            case UInt8(ascii: "s"): return .sender
            case UInt8(ascii: "t"): return .table
            case UInt8(ascii: "r"): return .keyRange
            case UInt8(ascii: "f"): return .flags
            case UInt8(ascii: "n"): return .keyCount
            case UInt8(ascii: "u"): return .updater
            case UInt8(ascii: "a"): return .arguments
            default: return nil
            }
        case 2:
            switch (b0, bytes[1]) {
            case (UInt8(ascii: "i"), UInt8(ascii: "d")): return .requestID
            case (UInt8(ascii: "t"), UInt8(ascii: "s")): return .timestamp
            case (UInt8(ascii: "v"), UInt8(ascii: "l")): return .valueLength
            case (UInt8(ascii: "e"), UInt8(ascii: "p")): return .endpoint
            case (UInt8(ascii: "n"), UInt8(ascii: "t")): return .nodeTable
            case (UInt8(ascii: "e"), UInt8(ascii: "c")): return .errorCode
            case (UInt8(ascii: "e"), UInt8(ascii: "m")): return .errorMessage
            case (UInt8(ascii: "k"), UInt8(ascii: "h")): return .keyCacheHash
            case (UInt8(ascii: "c"), UInt8(ascii: "z")): return .compressedSizes
            case (UInt8(ascii: "f"), UInt8(ascii: "a")): return .acceptedEncodings
            case (UInt8(ascii: "i"), UInt8(ascii: "t")): return .iteration
            case (UInt8(ascii: "t"), UInt8(ascii: "v")): return .tableVersion
            case (UInt8(ascii: "v"), UInt8(ascii: "c")): return .clockRecords
            case (UInt8(ascii: "s"), UInt8(ascii: "g")): return .segments
            default: return nil
            }
        case 3:
            switch (b0, bytes[1], bytes[2]) {
            case (UInt8(ascii: "c"), UInt8(ascii: "l"), UInt8(ascii: "k")): return .clock
            case (UInt8(ascii: "o"), UInt8(ascii: "r"), UInt8(ascii: "g")): return .origin
            default: return nil
            }
        default:
            let word = bytes.loadUnaligned(as: UInt32.self)
            switch word {
            case fourCharacterWord("role"): return .role
            case fourCharacterWord("rank"): return .rank
            case fourCharacterWord("name"): return .name
            default: return nil
            }
        }
    }
}

/// The keys of a node table (`nt`) and of one of its nodes.
enum NodeTableField: UInt8 {
    case version, nodes, chains, base, catchingUp
    case id, role, rank, endpoint, ranges, routingID, publicKey

    var key: StaticString {
        switch self {
        case .version: return "ver"
        case .nodes: return "nodes"
        case .chains: return "chains"
        case .catchingUp: return "catchup"
        case .id: return "id"
        case .role: return "role"
        case .rank: return "rank"
        case .endpoint: return "ep"
        case .ranges: return "ranges"
        case .base: return "base"
        case .routingID: return "rid"
        case .publicKey: return "pk"
        }
    }

    var name: String { key.description }

    var bit: UInt32 { 1 << UInt32(rawValue) }

    /// The field a key inside `nt` names; `node` says whether the key sits in a node map.
    static func named(_ bytes: UnsafeRawBufferPointer, inNode node: Bool) -> NodeTableField? {
        let candidates: [NodeTableField] = node ? [.id, .role, .rank, .endpoint, .ranges, .routingID, .publicKey] : [.version, .nodes, .chains, .base, .catchingUp]
        for candidate in candidates where candidate.key.utf8CodeUnitCount == bytes.count {
            let matches = candidate.key.withUTF8Buffer { key in
                key.elementsEqual(bytes)
            }
            if matches { return candidate }
        }
        return nil
    }
}

/// The little-endian word of a four-letter ASCII key, for switching on `role`, `rank` and `name`.
@inline(__always)
func fourCharacterWord(_ text: StaticString) -> UInt32 {
    text.withUTF8Buffer { bytes in
        UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
    }
}
