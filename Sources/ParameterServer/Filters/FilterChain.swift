import ZeroMQ

/// The communication filters of one node: per table, the stages a message passes on its way out
/// and in, with their state per peer and their statistics.
///
/// Outgoing requests pass the value filters once (``filterPush(_:)``, before a push is split by
/// server), then per destination quantization, key caching and compression
/// (``encodeRequest(_:to:forceKeys:)``). Incoming requests are decompressed, widened and have their
/// cached keys restored, then validated (``decodeRequest(_:from:limits:)``). Replies use only the
/// encodings the request listed in `fa`. Pure: no sockets, no clocks.
public struct FilterChain: Sendable {
    private struct PeerTable: Hashable, Sendable {
        var peer: NodeID
        var table: UInt32
    }

    /// A request after the receive filters: plain, validated frames, and the key-list hash the
    /// reply must echo (the request's key list was just cached).
    public struct DecodedRequest: Sendable {
        /// The request as if it had been sent without filters.
        public var message: Message
        /// The hash to put in the reply's `kh`, or `nil`.
        public var cachedKeyHash: UInt64?
    }

    /// The settings per table id.
    public let settings: [UInt32: FilterSettings]
    /// What the stages did so far.
    public private(set) var report = FilterReport()
    private var senders: [PeerTable: KeyCacheSender] = [:]
    private var receivers: [PeerTable: KeyCacheReceiver] = [:]
    private var significant: [UInt32: SignificantlyModifiedFilter] = [:]
    private var kkt: [UInt32: KKTFilter] = [:]

    /// Creates the filters for tables given as (id, settings, floats per key).
    public init(tables: [(id: UInt32, filters: FilterSettings, valueLength: Int)]) {
        var settings: [UInt32: FilterSettings] = [:]
        for table in tables {
            settings[table.id] = table.filters
            if let threshold = table.filters.significantlyModifiedThreshold {
                significant[table.id] = SignificantlyModifiedFilter(threshold: threshold, valueLength: table.valueLength)
            }
            if let lambda = table.filters.kktLambda {
                kkt[table.id] = KKTFilter(lambda: lambda, valueLength: table.valueLength)
            }
        }
        self.settings = settings
    }

    /// Creates the filters of the tables of a topology.
    public init(tables: [TableSpec]) {
        self.init(tables: tables.map { ($0.id, $0.filters, $0.valueLength) })
    }

    /// Whether any table uses any filter.
    public var isActive: Bool { settings.values.contains { !$0.isEmpty } }

    private func filters(_ table: UInt32) -> FilterSettings { settings[table] ?? .none }

    // MARK: - Sending

    /// A push after the value filters (significantly modified, then KKT) of its table.
    public mutating func filterPush(_ message: Message) -> Message {
        guard message.header.kind == .push else { return message }
        let table = message.header.table
        var result = message
        // Filtered in place: a copy taken out of the dictionary would copy the held changes.
        if significant[table] != nil {
            let before = result
            result = significant[table]!.filter(result)
            record(.significantlyModified, sent: true, before: before, after: result)
        }
        if kkt[table] != nil {
            let before = result
            result = kkt[table]!.filter(result)
            record(.kkt, sent: true, before: before, after: result)
        }
        return result
    }

    /// Tells the KKT filter of `table` the weights a pull returned.
    public mutating func observePull(table: UInt32, keys: [UInt64], weights: [Float]) {
        kkt[table]?.observe(keys: keys, weights: weights)
    }

    /// Takes the changes the value filters of `table` hold back (summed per key, sorted by key), to
    /// push them now.
    public mutating func flushPending(table: UInt32) -> (keys: [UInt64], values: [Float])? {
        var held = significant[table]?.pending.take()
        if var kktHeld = kkt[table]?.pending.take() {
            if held == nil { held = kktHeld } else { held!.absorb(&kktHeld) }
        }
        return held?.flush()
    }

    /// Keys whose change a value filter of `table` holds back (a key held by both counts twice).
    public func pendingKeyCount(table: UInt32) -> Int {
        (significant[table]?.pendingKeyCount ?? 0) + (kkt[table]?.pendingKeyCount ?? 0)
    }

    /// A request for one server after quantization, key caching and compression; `forceKeys`
    /// sends the keys even when the server holds them (the resend after a ``ErrorCode/keyCacheMiss``).
    public mutating func encodeRequest(_ message: Message, to peer: NodeID, forceKeys: Bool = false) -> Message {
        let settings = filters(message.header.table)
        guard !settings.isEmpty, message.header.kind == .push || message.header.kind == .pull else { return message }
        var result = message
        let accepted = settings.acceptedEncodings
        if !accepted.isEmpty { result.header.acceptedEncodings = accepted }
        if settings.quantization, result.values != nil {
            let before = result
            result = ValueQuantization.quantize(result)
            record(.quantization, sent: true, before: before, after: result)
        }
        if settings.keyCaching {
            let key = PeerTable(peer: peer, table: message.header.table)
            var sender = senders[key] ?? KeyCacheSender(capacityBytes: settings.keyCacheBytes)
            let before = result
            let collisions = sender.collisions
            result = sender.encode(result, forceKeys: forceKeys)
            report.keyCacheCollisions += sender.collisions - collisions
            senders[key] = sender
            record(.keyCaching, sent: true, before: before, after: result)
        }
        if settings.compression {
            let before = result
            result = SnappyCompression.compress(result, threshold: settings.compressionThreshold)
            record(.compression, sent: true, before: before, after: result)
        }
        return result
    }

    /// A reply after the encodings both this node's table settings and the request's `fa` allow,
    /// carrying the key-list hash the request's keys were cached under.
    public mutating func encodeReply(_ reply: Message, to request: Header, cachedKeyHash: UInt64?) -> Message {
        var result = reply
        if let cachedKeyHash { result.header.keyCacheHash = cachedKeyHash }
        let settings = filters(request.table)
        let accepted = request.acceptedEncodings ?? []
        if settings.quantization, accepted.contains(.float16), result.values != nil {
            let before = result
            result = ValueQuantization.quantize(result)
            record(.quantization, sent: true, before: before, after: result)
        }
        if settings.compression, accepted.contains(.snappy) {
            let before = result
            result = SnappyCompression.compress(result, threshold: settings.compressionThreshold)
            record(.compression, sent: true, before: before, after: result)
        }
        return result
    }

    // MARK: - Receiving

    /// A request from `peer` with its filters undone and its payload validated; throws
    /// ``ErrorCode/keyCacheMiss`` when it names a key list this node does not hold.
    public mutating func decodeRequest(
        _ message: Message, from peer: NodeID, limits: WireLimits = .default
    ) throws(WireError) -> DecodedRequest {
        var result = try decodePayload(message)
        let settings = filters(message.header.table)
        let key = PeerTable(peer: peer, table: message.header.table)
        let header = result.header
        if header.flags.contains(.keysCached) {
            guard settings.keyCaching, var receiver = receivers[key] else {
                report.keyCacheMisses += 1
                throw WireError(
                    .keyCacheMiss, field: "kh", "this node holds no key lists from \(peer) for table \(header.table); resend the keys")
            }
            let before = result
            do {
                result = try receiver.restore(result)
            } catch {
                report.keyCacheMisses += 1
                receivers[key] = receiver
                throw error
            }
            receivers[key] = receiver
            record(.keyCaching, sent: false, before: before, after: result)
        }
        try MessageCodec.validatePayload(result, limits: limits)
        var cachedKeyHash: UInt64?
        if settings.keyCaching, header.flags.contains(.cacheKeys) {
            var receiver = receivers[key] ?? KeyCacheReceiver(capacityBytes: settings.keyCacheBytes)
            cachedKeyHash = receiver.store(result)
            receivers[key] = receiver
        }
        result.header.flags.remove(.cacheKeys)
        return DecodedRequest(message: result, cachedKeyHash: cachedKeyHash)
    }

    /// A reply from `peer` to a request sent with key-list hash `requestHash`, with its filters undone
    /// and its payload validated. An echoed `kh` or a ``ErrorCode/keyCacheMiss`` updates the key cache.
    public mutating func decodeReply(
        _ message: Message, from peer: NodeID, requestHash: UInt64?, limits: WireLimits = .default
    ) throws(WireError) -> Message {
        let header = message.header
        let key = PeerTable(peer: peer, table: header.table)
        if header.keyCacheHash != nil || header.errorCode == .keyCacheMiss, var sender = senders[key] {
            sender.observe(reply: header, requestHash: requestHash)
            senders[key] = sender
            if header.errorCode == .keyCacheMiss { report.keyCacheMisses += 1 }
        }
        let result = try decodePayload(message)
        try MessageCodec.validatePayload(result, limits: limits)
        return result
    }

    /// Forgets what `peer` was believed to hold and what it sent (the peer restarted or left).
    public mutating func forget(peer: NodeID) {
        senders = senders.filter { $0.key.peer != peer }
        receivers = receivers.filter { $0.key.peer != peer }
    }

    /// Decompression and widening, which any receiver does whatever its own settings.
    private mutating func decodePayload(_ message: Message) throws(WireError) -> Message {
        var result = message
        if result.header.compressedSizes != nil {
            let before = result
            result = try SnappyCompression.decompress(result)
            record(.compression, sent: false, before: before, after: result)
        }
        if result.header.flags.contains(.float16Values) {
            let before = result
            result = try ValueQuantization.dequantize(result)
            record(.quantization, sent: false, before: before, after: result)
        }
        return result
    }

    private mutating func record(_ stage: FilterStage, sent: Bool, before: Message, after: Message) {
        let keysBefore = Int(before.header.keyCount)
        let keysAfter = after.keys == nil && after.header.flags.contains(.keysCached) ? 0 : Int(after.header.keyCount)
        var figures = (sent ? report.sent[stage] : report.received[stage]) ?? FilterStatistics()
        figures.record(
            bytesBefore: before.payloadBytes, bytesAfter: after.payloadBytes,
            keysBefore: before.header.flags.contains(.keysCached) && before.keys == nil ? 0 : keysBefore,
            keysAfter: keysAfter)
        if sent { report.sent[stage] = figures } else { report.received[stage] = figures }
    }
}
