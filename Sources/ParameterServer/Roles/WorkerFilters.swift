import ZeroMQ

/// The communication filters on a worker's I/O thread (docs/PROTOCOL.md section 13): the value
/// filters of a push before it is sliced, the encodings of each slice for its server, the decoding
/// of replies, and the weights a pull returned for the KKT filter. When no table uses a filter every
/// call passes its message through untouched.
///
/// A slice answered with ``ErrorCode/keyCacheMiss`` is sent again with its keys under a **new**
/// request id: the server recorded the miss as the reply to the old id (a retry of it would get the
/// miss again), and the new id continues the worker's numbering for that server without a gap.
struct WorkerFilters {
    /// The stages and their state per table and server.
    private(set) var chain: FilterChain
    /// Whether any table uses any filter.
    let isActive: Bool
    /// The table and keys of each pull in flight on a table with a KKT filter.
    private var kktPulls: [Timestamp: (table: UInt32, keys: [UInt64])] = [:]
    /// Bytes and keys sent and received so far (the report is filled in by ``traffic``).
    private var counted = WorkerTraffic()

    init(tables: [TableSpec]) {
        chain = FilterChain(tables: tables)
        isActive = chain.isActive
    }

    /// Passes a push through the value filters of its table (significantly modified, KKT); leaves
    /// other requests, and pushes marked ``WorkerTask/Request/bypassesValueFilters``, as they are.
    mutating func filterPush(_ request: inout WorkerTask.Request) {
        guard isActive, request.kind == .push, !request.bypassesValueFilters,
            chain.settings[request.table.id]?.filtersValues == true, let values = request.values
        else { return }
        let width = request.table.valueLength
        let message = Message(
            header: Header(
                kind: .push, table: request.table.id, keyCount: UInt32(request.keys.count), valueLength: UInt32(width)),
            keys: Frame(array: request.keys), values: Frame(array: values))
        let filtered = chain.filterPush(message)
        request.keys = Self.array(filtered.keys, as: UInt64.self)
        request.values = Self.array(filtered.values, as: Float.self)
    }

    /// Remembers the keys of a pull starting on a table with a KKT filter.
    mutating func pullStarted(_ timestamp: Timestamp, table: UInt32, keys: [UInt64]) {
        guard isActive, chain.settings[table]?.kktLambda != nil else { return }
        kktPulls[timestamp] = (table, keys)
    }

    /// Tells the KKT filter the weights pull `timestamp` returned; `values` is read only when the
    /// filter tracks that pull.
    mutating func pullCompleted(_ timestamp: Timestamp, values: @autoclosure () -> [Float]) {
        guard !kktPulls.isEmpty, let pull = kktPulls.removeValue(forKey: timestamp) else { return }
        chain.observePull(table: pull.table, keys: pull.keys, weights: values())
    }

    /// Forgets a task that ended without values.
    mutating func taskEnded(_ timestamp: Timestamp) {
        if !kktPulls.isEmpty { kktPulls[timestamp] = nil }
    }

    /// The changes the value filters hold back, per table, taken out to be pushed.
    mutating func takePending() -> [(table: UInt32, keys: [UInt64], values: [Float])] {
        guard isActive else { return [] }
        return chain.settings.keys.sorted().compactMap { table in
            guard chain.pendingKeyCount(table: table) > 0, let pending = chain.flushPending(table: table) else { return nil }
            return (table, pending.keys, pending.values)
        }
    }

    /// What went over the wire so far.
    var traffic: WorkerTraffic {
        var traffic = counted
        traffic.report = chain.report
        return traffic
    }

    /// One slice as `server` gets it; `forceKeys` for the resend after a key-cache miss.
    mutating func encode(_ message: Message, to server: NodeID, forceKeys: Bool = false) -> Message {
        let encoded = isActive ? chain.encodeRequest(message, to: server, forceKeys: forceKeys) : message
        count(message.header, plainBytes: message.payloadBytes, encodedBytes: encoded.payloadBytes)
        if forceKeys { counted.keyCacheResends += 1 }
        return encoded
    }

    /// Counts a slice sent without encodings (no filter is on: it need not pass through
    /// ``encode(_:to:forceKeys:)``), whose payload frames hold `payloadBytes`.
    mutating func countPlain(_ header: Header, payloadBytes: Int) {
        count(header, plainBytes: payloadBytes, encodedBytes: payloadBytes)
    }

    private mutating func count(_ header: Header, plainBytes: Int, encodedBytes: Int) {
        counted.requests += 1
        counted.plainBytesSent += plainBytes
        counted.bytesSent += encodedBytes
        if header.kind == .push { counted.pushedKeys += Int(header.keyCount) }
    }

    /// A reply of `server` to `request` (as sent) with its encodings undone and its payload checked.
    mutating func decodeReply(
        _ message: Message, from server: NodeID, request: Header, limits: WireLimits
    ) throws(WireError) -> Message {
        countReceived(message)
        guard isActive else { return message }
        return try chain.decodeReply(message, from: server, requestHash: request.keyCacheHash, limits: limits)
    }

    /// Counts a reply received (``decodeReply(_:from:request:limits:)`` does so too).
    mutating func countReceived(_ message: Message) {
        counted.bytesReceived += message.payloadBytes
    }

    private static func array<Element: BitwiseCopyable>(_ frame: Frame?, as: Element.Type) -> [Element] {
        guard let frame, frame.count > 0 else { return [] }
        let count = frame.count / MemoryLayout<Element>.stride
        return [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
            frame.withUnsafeBytes { raw in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[0..<(count * MemoryLayout<Element>.stride)]))
            }
            initialized = count
        }
    }
}
