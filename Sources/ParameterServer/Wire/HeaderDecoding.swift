import CMsgPack
import ZeroMQ

extension HeaderCodec {
    /// Decodes and validates the header frame of a message.
    public static func decode(_ frame: Frame, limits: WireLimits = .default) throws(WireError) -> Header {
        try frame.withUnsafeBytes { bytes in
            Result { () throws(WireError) in try decode(bytes, limits: limits) }
        }.get()
    }

    /// Decodes and validates one msgpack header map.
    ///
    /// The headers of data messages are read in one pass over the bytes (``HeaderScanner``); any
    /// other header, and any the scanner does not accept, is checked for size and structure
    /// (``WireLimits/maxHeaderBytes``, declared container sizes, truncation, trailing bytes), then
    /// parsed by msgpack-c, then every field is checked for type, range and presence.
    public static func decode(_ bytes: UnsafeRawBufferPointer, limits: WireLimits = .default) throws(WireError)
        -> Header
    {
        if bytes.count <= min(limits.maxHeaderBytes, WireLimits.headerBytesCeiling),
            let header = HeaderScanner.header(bytes, limits: limits)
        {
            return header
        }
        return try decodeInFull(bytes, limits: limits)
    }

    /// Decodes a header with msgpack-c, as ``decode(_:limits:)`` does
    /// when its scanner declines it.
    static func decodeInFull(_ bytes: UnsafeRawBufferPointer, limits: WireLimits = .default) throws(WireError) -> Header {
        try parse(bytes, limits: limits) { object throws(WireError) in try HeaderReader(limits: limits).header(from: object) }
    }

    /// Checks the header's size and structure, parses it with msgpack-c and hands the top-level map
    /// to `read`; the parsed objects live only while `read` runs.
    static func parse<Result>(
        _ bytes: UnsafeRawBufferPointer, limits: WireLimits, _ read: (msgpack_object) throws(WireError) -> Result
    ) throws(WireError) -> Result {
        guard let base = bytes.baseAddress, bytes.count > 0 else {
            throw WireError(.malformedHeader, field: "header", "the header is empty")
        }
        let maximum = min(limits.maxHeaderBytes, WireLimits.headerBytesCeiling)
        guard bytes.count <= maximum else {
            throw WireError(.tooLarge, field: "header", "\(bytes.count) bytes exceed the limit of \(maximum)")
        }
        switch bytes[0] {
        case 0x80...0x8f, 0xde, 0xdf: break
        default:
            throw WireError(
                .malformedHeader, field: "header",
                "the top level is not a msgpack map (type byte 0x\(String(bytes[0], radix: 16)))")
        }
        try MessagePackStructureCheck.check(bytes)

        // The parsed objects live in a zone on the stack whose first chunk is small: a header of
        // usual size fits it, and a small first chunk spares the allocator the fast-bin
        // consolidation an 8 KiB request (msgpack-c's default) costs on every message.
        var zone = msgpack_zone()
        guard msgpack_zone_init(&zone, Self.zoneChunkBytes) else {
            throw WireError(.tooLarge, field: "header", "no memory to parse the header")
        }
        defer { msgpack_zone_destroy(&zone) }
        var object = msgpack_object()
        var offset = 0
        let status = msgpack_unpack(base.assumingMemoryBound(to: CChar.self), bytes.count, &offset, &zone, &object)
        guard status == MSGPACK_UNPACK_SUCCESS, offset == bytes.count else {
            throw WireError(.malformedHeader, field: "header", "msgpack-c rejected the header (status \(status.rawValue))")
        }
        return try read(object)
    }

    /// The first chunk of the zone a header is parsed into.
    static let zoneChunkBytes = 512

    /// Decodes and validates a header held in an array.
    public static func decode(_ bytes: [UInt8], limits: WireLimits = .default) throws(WireError) -> Header {
        try bytes.withUnsafeBytes { bytes in
            Result { () throws(WireError) in try decode(bytes, limits: limits) }
        }.get()
    }
}

/// Turns a parsed msgpack map into a ``Header``, checking every field.
struct HeaderReader {
    let limits: WireLimits

    func header(from object: msgpack_object) throws(WireError) -> Header {
        let map = object.via.map
        let entries = UnsafeBufferPointer(start: map.ptr, count: Int(map.size))

        // The version decides how the rest is read, so it is checked before anything else.
        var version: UInt64?
        for entry in entries where entry.key.type == MSGPACK_OBJECT_STR {
            if HeaderField.named(msgpackBytes(entry.key.via.str)) == .version {
                version = try unsigned(entry.val, max: UInt64(UInt16.max), field: "v")
                break
            }
        }
        guard let version else { throw WireError(.missingField, field: "v", "the protocol version is missing") }
        guard version == UInt64(WireProtocol.version) else {
            throw WireError(
                .unsupportedVersion, field: "v", "version \(version) is not supported (this node speaks \(WireProtocol.version))")
        }

        var fields = DecodedHeaderFields()

        for (index, entry) in entries.enumerated() {
            guard entry.key.type == MSGPACK_OBJECT_STR else {
                throw WireError(.malformedHeader, field: "header", "key \(index) of the header map is not a string")
            }
            // Keys this build does not know belong to newer peers: skip them.
            guard let field = HeaderField.named(msgpackBytes(entry.key.via.str)) else { continue }
            guard fields.seen & field.bit == 0 else {
                throw WireError(.malformedHeader, field: field.name, "the key appears twice")
            }
            fields.seen |= field.bit
            let value = entry.val
            let fieldName = field.name
            switch field {
            case .version: break
            case .kind:
                let raw = try unsigned(value, max: UInt64(UInt8.max), field: fieldName, unknown: .unknownKind)
                guard let known = MessageKind(rawValue: UInt8(raw)) else {
                    throw WireError(.unknownKind, field: fieldName, "message kind \(raw) is unknown")
                }
                fields.kind = known
            case .sender: fields.sender = try nodeID(value, field: fieldName).rawValue
            case .requestID: fields.requestID = try unsigned(value, max: .max, field: fieldName)
            case .table: fields.table = UInt32(try unsigned(value, max: UInt64(UInt32.max), field: fieldName))
            case .timestamp: fields.timestamp = try signed(value, field: fieldName)
            case .keyRange: fields.keyRange = try self.keyRange(value, field: fieldName)
            case .flags: fields.flags = UInt32(try unsigned(value, max: UInt64(UInt32.max), field: fieldName))
            case .keyCount:
                let count = try unsigned(value, max: UInt64(UInt32.max), field: fieldName)
                guard count <= UInt64(limits.maxKeysPerMessage) else {
                    throw WireError(.tooLarge, field: fieldName, "\(count) keys exceed the limit of \(limits.maxKeysPerMessage)")
                }
                fields.keyCount = UInt32(count)
            case .valueLength:
                let length = try unsigned(value, max: UInt64(UInt32.max), field: fieldName)
                guard length <= UInt64(limits.maxValueLength) else {
                    throw WireError(.tooLarge, field: fieldName, "value length \(length) exceeds the limit of \(limits.maxValueLength)")
                }
                fields.valueLength = UInt32(length)
            case .updater: fields.updater = try string(value, field: fieldName)
            case .role: fields.role = try self.role(value, field: fieldName)
            case .rank: fields.rank = UInt32(try unsigned(value, max: UInt64(UInt32.max), field: fieldName))
            case .endpoint: fields.endpoint = try string(value, field: fieldName)
            case .nodeTable: fields.nodeTable = try self.nodeTable(value)
            case .name: fields.name = try string(value, field: fieldName)
            case .errorCode:
                fields.errorCode = ErrorCode(rawValue: UInt16(try unsigned(value, max: UInt64(UInt16.max), field: fieldName)))
            case .errorMessage: fields.errorMessage = try string(value, field: fieldName)
            case .clock: fields.clock = try self.clock(value)
            case .keyCacheHash: fields.keyCacheHash = try unsigned(value, max: .max, field: fieldName)
            case .compressedSizes: fields.compressedSizes = try self.compressedSizes(value)
            case .acceptedEncodings:
                fields.acceptedEncodings = PayloadEncodings(rawValue: UInt32(try unsigned(value, max: UInt64(UInt32.max), field: fieldName)))
            case .arguments: fields.arguments = try self.arguments(value)
            case .iteration: fields.iteration = try signed(value, field: fieldName)
            case .origin: fields.origins = try self.origins(value)
            case .clockRecords: fields.clockRecords = try self.clockRecords(value)
            case .tableVersion: fields.tableVersion = try unsigned(value, max: .max, field: fieldName)
            case .segments: fields.segments = try self.segments(value)
            }
        }

        return try fields.header()
    }

    // MARK: - Scalars

    /// An unsigned integer no larger than `max`; a negative one, another type, or a larger one is an error
    /// (`unknown` is the code for a value out of range, e.g. ``ErrorCode/unknownKind`` for `k`).
    func unsigned(
        _ object: msgpack_object, max: UInt64, field: @autoclosure () -> String,
        unknown: ErrorCode = .malformedHeader
    ) throws(WireError) -> UInt64 {
        switch object.type {
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            let value = object.via.u64
            guard value <= max else {
                throw WireError(unknown, field: field(), "\(value) is out of range (at most \(max))")
            }
            return value
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
            throw WireError(.malformedHeader, field: field(), "\(object.via.i64) is negative, expected an unsigned integer")
        default:
            throw WireError(.malformedHeader, field: field(), "expected an unsigned integer, got \(msgpackTypeName(object))")
        }
    }

    func signed(_ object: msgpack_object, field: @autoclosure () -> String) throws(WireError) -> Int64 {
        switch object.type {
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            guard object.via.u64 <= UInt64(Int64.max) else {
                throw WireError(.malformedHeader, field: field(), "\(object.via.u64) is out of range for a signed 64-bit integer")
            }
            return Int64(object.via.u64)
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
            return object.via.i64
        default:
            throw WireError(.malformedHeader, field: field(), "expected an integer, got \(msgpackTypeName(object))")
        }
    }

    /// A node id no larger than ``WireLimits/maxNodeID`` (``ErrorCode/tooLarge`` beyond it), or
    /// ``NodeID/unassigned`` where `unassignedAllowed`.
    func nodeID(
        _ object: msgpack_object, field: @autoclosure () -> String, unassignedAllowed: Bool = true
    ) throws(WireError) -> NodeID {
        let id = NodeID(UInt32(try unsigned(object, max: UInt64(UInt32.max), field: field())))
        guard limits.admits(id, unassignedAllowed: unassignedAllowed) else {
            throw WireError(
                .tooLarge, field: field(),
                "node id \(id.rawValue) exceeds the limit of \(limits.maxNodeID)"
                    + (unassignedAllowed ? " (\(NodeID.unassigned.rawValue) stands for a node not yet registered)" : ""))
        }
        return id
    }

    func string(_ object: msgpack_object, field: @autoclosure () -> String) throws(WireError) -> String {
        guard object.type == MSGPACK_OBJECT_STR else {
            throw WireError(.malformedHeader, field: field(), "expected a string, got \(msgpackTypeName(object))")
        }
        let bytes = msgpackBytes(object.via.str)
        guard bytes.count <= limits.maxStringBytes else {
            throw WireError(.tooLarge, field: field(), "\(bytes.count) bytes exceed the string limit of \(limits.maxStringBytes)")
        }
        // Decoding repairs invalid UTF-8 with U+FFFD, so a result that differs from the input means
        // the input was not valid UTF-8.
        let text = String(decoding: bytes, as: UTF8.self)
        let valid = text.utf8.count == bytes.count && text.utf8.elementsEqual(bytes)
        guard valid else { throw WireError(.malformedHeader, field: field(), "the string is not valid UTF-8") }
        return text
    }

    func role(_ object: msgpack_object, field: @autoclosure () -> String) throws(WireError) -> NodeRole {
        let raw = try unsigned(object, max: UInt64(UInt8.max), field: field())
        guard let role = NodeRole(rawValue: UInt8(raw)) else {
            throw WireError(.malformedHeader, field: field(), "role \(raw) is unknown")
        }
        return role
    }

    // MARK: - Composite fields

    func array(_ object: msgpack_object, field: @autoclosure () -> String) throws(WireError)
        -> UnsafeBufferPointer<msgpack_object>
    {
        guard object.type == MSGPACK_OBJECT_ARRAY else {
            throw WireError(.malformedHeader, field: field(), "expected an array, got \(msgpackTypeName(object))")
        }
        return UnsafeBufferPointer(start: object.via.array.ptr, count: Int(object.via.array.size))
    }

    func keyRange(_ object: msgpack_object, field: @autoclosure () -> String) throws(WireError) -> KeyRange {
        let bounds = try array(object, field: field())
        guard bounds.count == 2 else {
            throw WireError(.malformedHeader, field: field(), "a key range is [lower, upper], got \(bounds.count) elements")
        }
        let lower = try unsigned(bounds[0], max: .max, field: field())
        let upper = try unsigned(bounds[1], max: .max, field: field())
        guard lower <= upper else {
            throw WireError(.malformedHeader, field: field(), "lower bound \(lower) exceeds upper bound \(upper)")
        }
        return KeyRange(lower, upper)
    }

    /// The entries of a flat array of `field` made of groups of `width` entries (`shape` names
    /// them, as in `[server, sender, id, …] in threes`): at least one group, at most one per key
    /// a message may hold.
    func groups(_ object: msgpack_object, field: String, width: Int, shape: String, what: String) throws(WireError)
        -> UnsafeBufferPointer<msgpack_object>
    {
        let entries = try array(object, field: field)
        guard entries.count >= width, entries.count % width == 0 else {
            throw WireError(.malformedHeader, field: field, "expected \(shape), got \(entries.count) entries")
        }
        guard entries.count / width <= limits.maxKeysPerMessage else {
            throw WireError(.tooLarge, field: field, "\(entries.count / width) \(what) exceed the limit of \(limits.maxKeysPerMessage)")
        }
        return entries
    }

    func origins(_ object: msgpack_object) throws(WireError) -> [RequestOrigin] {
        let entries = try groups(object, field: "org", width: 3, shape: "[server, sender, id, …] in threes", what: "identities")
        var origins: [RequestOrigin] = []
        origins.reserveCapacity(entries.count / 3)
        for start in stride(from: 0, to: entries.count, by: 3) {
            let server = try nodeID(entries[start], field: "org[\(start)]", unassignedAllowed: false)
            let sender = try nodeID(entries[start + 1], field: "org[\(start + 1)]", unassignedAllowed: false)
            let requestID = try unsigned(entries[start + 2], max: .max, field: "org[\(start + 2)]")
            origins.append(RequestOrigin(server: server, sender: sender, requestID: requestID))
        }
        return origins
    }

    func segments(_ object: msgpack_object) throws(WireError) -> [KeyRange] {
        let bounds = try groups(object, field: "sg", width: 2, shape: "[lower, upper, …] in twos", what: "segments")
        var segments: [KeyRange] = []
        segments.reserveCapacity(bounds.count / 2)
        var floor: UInt64 = 0
        for start in stride(from: 0, to: bounds.count, by: 2) {
            let lower = try unsigned(bounds[start], max: .max, field: "sg[\(start)]")
            let upper = try unsigned(bounds[start + 1], max: .max, field: "sg[\(start + 1)]")
            guard lower < upper, lower >= floor else {
                throw WireError(
                    .malformedHeader, field: "sg[\(start)]",
                    "segments are non-empty, ascending and disjoint; [\(lower), \(upper)) is not")
            }
            segments.append(KeyRange(lower, upper))
            floor = upper
        }
        return segments
    }

    func clockRecords(_ object: msgpack_object) throws(WireError) -> [ClockRecord] {
        let entries = try groups(object, field: "vc", width: 4, shape: "[node, lower, upper, timestamp, …] in fours", what: "clock entries")
        var records: [ClockRecord] = []
        records.reserveCapacity(entries.count / 4)
        for start in stride(from: 0, to: entries.count, by: 4) {
            let node = try nodeID(entries[start], field: "vc[\(start)]", unassignedAllowed: false)
            let lower = try unsigned(entries[start + 1], max: .max, field: "vc[\(start + 1)]")
            let upper = try unsigned(entries[start + 2], max: .max, field: "vc[\(start + 2)]")
            guard lower < upper else {
                throw WireError(.malformedHeader, field: "vc[\(start + 1)]", "lower bound \(lower) is not below upper bound \(upper)")
            }
            let timestamp = try signed(entries[start + 3], field: "vc[\(start + 3)]")
            guard timestamp > 0 else {
                throw WireError(.malformedHeader, field: "vc[\(start + 3)]", "a clock entry's timestamp is positive, got \(timestamp)")
            }
            records.append(ClockRecord(node: Int(node.rawValue), range: KeyRange(lower, upper), timestamp: Timestamp(timestamp)))
        }
        return records
    }

    func clock(_ object: msgpack_object) throws(WireError) -> [Int64] {
        let entries = try array(object, field: "clk")
        guard entries.count <= limits.maxNodes else {
            throw WireError(.tooLarge, field: "clk", "\(entries.count) entries exceed the node limit of \(limits.maxNodes)")
        }
        var clock: [Int64] = []
        clock.reserveCapacity(entries.count)
        for (index, entry) in entries.enumerated() {
            clock.append(try signed(entry, field: "clk[\(index)]"))
        }
        return clock
    }
}

/// The bytes of a msgpack string, which point into the header frame.
@inline(__always)
func msgpackBytes(_ string: msgpack_object_str) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(start: string.ptr, count: Int(string.size))
}

/// The bytes of a msgpack `bin`, in place.
func msgpackBytes(_ binary: msgpack_object_bin) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(start: binary.ptr, count: Int(binary.size))
}

/// A msgpack type's name, for error messages.
func msgpackTypeName(_ object: msgpack_object) -> String {
    switch object.type {
    case MSGPACK_OBJECT_NIL: return "nil"
    case MSGPACK_OBJECT_BOOLEAN: return "a boolean"
    case MSGPACK_OBJECT_POSITIVE_INTEGER, MSGPACK_OBJECT_NEGATIVE_INTEGER: return "an integer"
    case MSGPACK_OBJECT_FLOAT32, MSGPACK_OBJECT_FLOAT64: return "a float"
    case MSGPACK_OBJECT_STR: return "a string"
    case MSGPACK_OBJECT_ARRAY: return "an array"
    case MSGPACK_OBJECT_MAP: return "a map"
    case MSGPACK_OBJECT_BIN: return "binary"
    case MSGPACK_OBJECT_EXT: return "an extension"
    default: return "type \(object.type.rawValue)"
    }
}
