import CMsgPack
import ZeroMQ

extension HeaderCodec {
    /// What can be read of a request whose header is refused: its kind, sender, request id, table
    /// and timestamp, each taken when it is present with a valid type and range, and left at
    /// ``Header``'s default otherwise. `nil` when the frame is not a msgpack map at all.
    ///
    /// An error reply echoes these, so that the sender can match it to its request, and a refused
    /// request of an ordered sender uses up its id (docs/PROTOCOL.md, sections 8.1 and 9). Nothing
    /// else of such a header is trusted.
    public static func identity(of frame: Frame, limits: WireLimits = .default) -> Header? {
        frame.withUnsafeBytes { bytes in identity(of: bytes, limits: limits) }
    }

    /// The identity of a header held in a buffer (see ``identity(of:limits:)-(Frame,_)``).
    public static func identity(of bytes: UnsafeRawBufferPointer, limits: WireLimits = .default) -> Header? {
        let reader = HeaderReader(limits: limits)
        return try? parse(bytes, limits: limits) { object throws(WireError) in reader.identity(from: object) }
    }
}

extension HeaderReader {
    /// The fields of ``HeaderCodec/identity(of:limits:)-(Frame,_)`` that decode; the rest ignored.
    func identity(from object: msgpack_object) -> Header {
        var header = Header(kind: .error)
        let map = object.via.map
        for entry in UnsafeBufferPointer(start: map.ptr, count: Int(map.size)) where entry.key.type == MSGPACK_OBJECT_STR {
            guard let field = HeaderField.named(msgpackBytes(entry.key.via.str)) else { continue }
            let value = entry.val
            switch field {
            case .kind:
                if let raw = try? unsigned(value, max: UInt64(UInt8.max), field: ""), let kind = MessageKind(rawValue: UInt8(raw)) {
                    header.kind = kind
                }
            case .sender:
                if let sender = try? nodeID(value, field: "") { header.sender = sender }
            case .requestID:
                if let id = try? unsigned(value, max: .max, field: "") { header.requestID = id }
            case .table:
                if let table = try? unsigned(value, max: UInt64(UInt32.max), field: "") { header.table = UInt32(table) }
            case .timestamp:
                if let timestamp = try? signed(value, field: "") { header.timestamp = timestamp }
            default:
                continue
            }
        }
        return header
    }
}
