/// One pass over the bytes of the headers data messages carry: a map of short string keys whose
/// values are integers, or `r` as `[lower, upper]`. Anything else — a string, another array, a
/// key this build does not know, a key twice, a value out of range, a check across fields that
/// fails — makes it return nil, and ``HeaderCodec`` decodes the header with msgpack-c instead,
/// which reports what is wrong. What it accepts decodes to the header the full decoder returns.
///
/// It spares the request path msgpack-c's two passes (the structure check and the unpacking into a
/// zone of objects) and the walk over the objects.
struct HeaderScanner {
    private let bytes: UnsafeRawBufferPointer
    private var position = 0

    private init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// The header `bytes` hold, or nil when the full decoder must read them.
    static func header(_ bytes: UnsafeRawBufferPointer, limits: WireLimits) -> Header? {
        var scanner = HeaderScanner(bytes)
        // Read in place: the fields are too large to pass around cheaply.
        var fields = DecodedHeaderFields()
        guard scanner.read(into: &fields, limits: limits), scanner.position == bytes.count else { return nil }
        return try? fields.header()
    }

    /// Reads the map into `fields`; false when the full decoder must read it.
    private mutating func read(into fields: inout DecodedHeaderFields, limits: WireLimits) -> Bool {
        guard let entries = mapHeader() else { return false }
        var version: UInt64?
        for _ in 0..<entries {
            guard let field = key(), fields.seen & field.bit == 0 else { return false }
            fields.seen |= field.bit
            switch field {
            case .version: version = unsigned()
            case .kind:
                guard let raw = unsigned(max: UInt64(UInt8.max)), let kind = MessageKind(rawValue: UInt8(raw)) else { return false }
                fields.kind = kind
            case .sender:
                guard let raw = unsigned(max: UInt64(UInt32.max)), limits.admits(NodeID(UInt32(raw)), unassignedAllowed: true)
                else { return false }
                fields.sender = UInt32(raw)
            case .requestID:
                guard let value = unsigned() else { return false }
                fields.requestID = value
            case .table:
                guard let value = unsigned(max: UInt64(UInt32.max)) else { return false }
                fields.table = UInt32(value)
            case .timestamp:
                guard let value = signed() else { return false }
                fields.timestamp = value
            case .keyRange:
                guard next() == 0x92, let lower = unsigned(), let upper = unsigned(), lower <= upper else { return false }
                fields.keyRange = KeyRange(lower, upper)
            case .flags:
                guard let value = unsigned(max: UInt64(UInt32.max)) else { return false }
                fields.flags = UInt32(value)
            case .keyCount:
                guard let value = unsigned(max: UInt64(limits.maxKeysPerMessage)) else { return false }
                fields.keyCount = UInt32(value)
            case .valueLength:
                guard let value = unsigned(max: UInt64(limits.maxValueLength)) else { return false }
                fields.valueLength = UInt32(value)
            case .role:
                guard let raw = unsigned(max: UInt64(UInt8.max)), let role = NodeRole(rawValue: UInt8(raw)) else { return false }
                fields.role = role
            case .rank:
                guard let value = unsigned(max: UInt64(UInt32.max)) else { return false }
                fields.rank = UInt32(value)
            case .errorCode:
                guard let value = unsigned(max: UInt64(UInt16.max)) else { return false }
                fields.errorCode = ErrorCode(rawValue: UInt16(value))
            case .keyCacheHash:
                guard let value = unsigned() else { return false }
                fields.keyCacheHash = value
            case .acceptedEncodings:
                guard let value = unsigned(max: UInt64(UInt32.max)) else { return false }
                fields.acceptedEncodings = PayloadEncodings(rawValue: UInt32(value))
            case .iteration:
                guard let value = signed() else { return false }
                fields.iteration = value
            case .tableVersion:
                guard let value = unsigned() else { return false }
                fields.tableVersion = value
            case .updater, .endpoint, .nodeTable, .name, .errorMessage, .clock, .compressedSizes, .arguments, .origin,
                .clockRecords, .segments:
                return false
            }
        }
        return version == UInt64(WireProtocol.version)
    }

    // MARK: - msgpack

    @inline(__always)
    private mutating func next() -> UInt8? {
        guard position < bytes.count else { return nil }
        defer { position &+= 1 }
        return bytes[position]
    }

    /// A big-endian integer of `Value`'s width.
    @inline(__always)
    private mutating func bigEndian<Value: FixedWidthInteger>(_: Value.Type) -> Value? {
        let width = MemoryLayout<Value>.size
        guard bytes.count &- position >= width else { return nil }
        defer { position &+= width }
        return Value(bigEndian: bytes.loadUnaligned(fromByteOffset: position, as: Value.self))
    }

    /// The entry count of a map of at most 65,535 entries.
    private mutating func mapHeader() -> Int? {
        switch next() {
        case let byte? where byte & 0xf0 == 0x80: Int(byte & 0x0f)
        case 0xde?: bigEndian(UInt16.self).map(Int.init)
        default: nil
        }
    }

    /// A key of up to 31 bytes (a fixstr) that names a field this build knows.
    private mutating func key() -> HeaderField? {
        guard let byte = next(), byte & 0xe0 == 0xa0 else { return nil }
        let length = Int(byte & 0x1f)
        guard bytes.count &- position >= length else { return nil }
        defer { position &+= length }
        return HeaderField.named(UnsafeRawBufferPointer(rebasing: bytes[position..<position + length]))
    }

    /// An integer written in one of msgpack's unsigned forms, at most `max`.
    private mutating func unsigned(max: UInt64 = .max) -> UInt64? {
        let value: UInt64?
        switch next() {
        case let byte? where byte < 0x80: value = UInt64(byte)
        case 0xcc?: value = bigEndian(UInt8.self).map(UInt64.init)
        case 0xcd?: value = bigEndian(UInt16.self).map(UInt64.init)
        case 0xce?: value = bigEndian(UInt32.self).map(UInt64.init)
        case 0xcf?: value = bigEndian(UInt64.self)
        default: value = nil
        }
        guard let value, value <= max else { return nil }
        return value
    }

    /// An integer in any of msgpack's forms that fits 64 signed bits.
    private mutating func signed() -> Int64? {
        guard position < bytes.count else { return nil }
        switch bytes[position] {
        case 0xe0...0xff:
            position &+= 1
            return Int64(Int8(bitPattern: bytes[position &- 1]))
        case 0xd0:
            position &+= 1
            return bigEndian(Int8.self).map(Int64.init)
        case 0xd1:
            position &+= 1
            return bigEndian(Int16.self).map(Int64.init)
        case 0xd2:
            position &+= 1
            return bigEndian(Int32.self).map(Int64.init)
        case 0xd3:
            position &+= 1
            return bigEndian(Int64.self)
        default:
            return unsigned(max: UInt64(Int64.max)).map(Int64.init)
        }
    }
}
