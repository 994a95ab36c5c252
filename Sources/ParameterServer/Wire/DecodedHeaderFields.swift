/// The fields of a header as a decoder reads them from its map, each checked on its own, before the
/// checks that involve several fields: what both header decoders (``HeaderReader`` over msgpack-c's
/// objects, ``HeaderScanner`` over the bytes) fill in.
struct DecodedHeaderFields {
    /// ``HeaderField/bit`` of every field read.
    var seen: UInt32 = 0
    var kind: MessageKind?
    var sender: UInt32 = 0
    var requestID: UInt64 = 0
    var table: UInt32 = 0
    var timestamp: Int64 = 0
    var keyRange: KeyRange?
    var flags: UInt32 = 0
    var keyCount: UInt32 = 0
    var valueLength: UInt32 = 0
    var updater: String?
    var role: NodeRole?
    var rank: UInt32?
    var endpoint: String?
    var nodeTable: NodeTable?
    var name: String?
    var errorCode: ErrorCode?
    var errorMessage: String?
    var clock: [Int64]?
    var keyCacheHash: UInt64?
    var compressedSizes: [UInt32]?
    var acceptedEncodings: PayloadEncodings?
    var arguments: [Double]?
    var iteration: Int64?
    var origins: [RequestOrigin] = []
    var segments: [KeyRange] = []
    var clockRecords: [ClockRecord] = []
    var tableVersion: UInt64?

    /// The header, once the fields its kind requires are there and its flags fit its kind.
    func header() throws(WireError) -> Header {
        guard let kind else { throw WireError(.missingField, field: "k", "the message kind is missing") }
        let messageFlags = MessageFlags(rawValue: flags)
        let missing = HeaderCodec.requiredFields(kind: kind, flags: messageFlags) & ~seen
        if missing != 0, let field = HeaderField.allCases.first(where: { missing & $0.bit != 0 }) {
            throw WireError(.missingField, field: field.name, "a \(kind) message requires it")
        }

        let layout = kind.payload
        if messageFlags.contains(.hasLengths), layout != .keysAndValues, layout != .values {
            throw WireError(.malformedHeader, field: "f", "hasLengths is set on a \(kind) message, which carries no values")
        }
        if messageFlags.contains(.rangeRequest), kind != .pull, kind != .pullReply {
            throw WireError(.malformedHeader, field: "f", "rangeRequest is set on a \(kind) message")
        }
        if kind == .push || kind == .pullReply || kind == .replicate, !messageFlags.contains(.hasLengths), valueLength == 0 {
            throw WireError(.malformedHeader, field: "vl", "a \(kind) message needs a positive value length")
        }
        try HeaderReader.checkFilterFlags(messageFlags, kind: kind)

        var header = Header(
            kind: kind, sender: NodeID(sender), requestID: requestID, table: table, timestamp: timestamp,
            keyRange: keyRange, flags: messageFlags, keyCount: keyCount, valueLength: valueLength,
            role: role, rank: rank, errorCode: errorCode)
        header.keyCacheHash = keyCacheHash
        header.acceptedEncodings = acceptedEncodings
        header.iteration = iteration
        header.tableVersion = tableVersion
        // The rarely set fields in one box, made once (none when all are absent).
        header.rareFields = Header.RareFields(
            updater: updater, endpoint: endpoint, nodeTable: nodeTable, name: name, errorMessage: errorMessage,
            clock: clock, compressedSizes: compressedSizes, arguments: arguments, origins: origins,
            clockRecords: clockRecords, segments: segments)
        return header
    }
}
