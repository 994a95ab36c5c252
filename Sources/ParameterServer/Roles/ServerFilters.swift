import ZeroMQ

/// The communication filters on a server's I/O thread (docs/PROTOCOL.md section 13): requests are
/// decompressed, widened and have their cached keys restored before they are checked; replies use
/// only the encodings their request listed in `fa`, and echo the key-list hash the request's keys
/// were just cached under.
struct ServerFilters {
    private var chain: FilterChain

    init(tables: [TableSpec]) {
        chain = FilterChain(tables: tables)
    }

    /// What the receive and send stages did so far.
    var report: FilterReport { chain.report }

    /// Decodes and checks a request. A filter-encoded push or pull goes through the receive stages
    /// (throwing ``ErrorCode/keyCacheMiss`` for a key list this server does not hold); its header's
    /// `kh` is then the hash to echo, or `nil`. Other kinds may not be filter-encoded.
    mutating func decode(_ frames: [Frame], limits: WireLimits) throws(WireError) -> Message {
        let message = try MessageCodec.decodeEncoded(frames, limits: limits)
        let header = message.header
        guard header.isFilterEncoded || header.flags.contains(.cacheKeys) else {
            try MessageCodec.validatePayload(message, limits: limits)
            return message
        }
        guard header.kind == .push || header.kind == .pull else {
            throw WireError(.unsupportedEncoding, field: "f", "only pushes and pulls may use filter encodings, not \(header.kind)")
        }
        let decoded = try chain.decodeRequest(message, from: header.sender, limits: limits)
        var result = decoded.message
        result.header.keyCacheHash = decoded.cachedKeyHash
        return result
    }

    /// `reply` encoded as the request (as ``decode(_:limits:)`` returned it) allows.
    mutating func encode(_ reply: Message, answering request: Header) -> Message {
        guard request.acceptedEncodings != nil || request.keyCacheHash != nil else { return reply }
        return chain.encodeReply(reply, to: request, cachedKeyHash: request.keyCacheHash)
    }
}
