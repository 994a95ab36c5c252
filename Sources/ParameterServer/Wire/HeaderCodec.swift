import CMsgPack
import ZeroMQ

/// Encodes a ``Header`` into one msgpack map, and decodes and validates one (see HeaderDecoding.swift).
///
/// Encoding writes `v`, `k`, `s` and `id` always; `t`, `ts`, `f`, `n` and `vl` when they are not
/// zero or the kind requires them; every other field only when it is set. Decoding accepts any key
/// order, ignores keys it does not know (so newer peers can add fields) and rejects everything
/// else that is not exactly right with a ``WireError`` naming the field.
public enum HeaderCodec {
    /// The header as one msgpack map in a frame of its own.
    public static func encode(_ header: Header) -> Frame {
        withEncoded(header) { Frame(copying: $0) }
    }

    /// Calls `body` with the header encoded as one msgpack map; the bytes are valid only inside
    /// `body`. Typical headers are encoded on the stack, so sending one this way allocates nothing.
    public static func withEncoded<R>(_ header: Header, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        // Typical headers fit the stack buffer; the packer spills to the heap only for node tables.
        try withUnsafeTemporaryAllocation(byteCount: PackBuffer.stackCapacity, alignment: 16) { stack in
            var buffer = PackBuffer(base: stack.baseAddress!, capacity: stack.count)
            defer { buffer.releaseHeap() }
            withUnsafeMutablePointer(to: &buffer) { bufferPointer in
                var packer = msgpack_packer()
                msgpack_packer_init(&packer, bufferPointer) { context, bytes, length in
                    guard let context, let bytes else { return length == 0 ? 0 : -1 }
                    context.assumingMemoryBound(to: PackBuffer.self).pointee.append(bytes, length)
                    return 0
                }
                withUnsafeMutablePointer(to: &packer) { HeaderPacker(packer: $0).pack(header) }
            }
            return try body(UnsafeRawBufferPointer(start: buffer.base, count: buffer.count))
        }
    }

    /// The header fields a kind cannot do without, as a set of ``HeaderField`` bits. The encoder
    /// writes these even when zero; the decoder reports a missing one as ``ErrorCode/missingField``.
    static func requiredFields(kind: MessageKind, flags: MessageFlags) -> UInt32 {
        var fields = HeaderField.version.bit | HeaderField.kind.bit | HeaderField.sender.bit
            | HeaderField.requestID.bit
        switch kind {
        case .register: fields |= HeaderField.role.bit | HeaderField.rank.bit | HeaderField.endpoint.bit
        case .nodeTable: fields |= HeaderField.nodeTable.bit
        case .barrier, .barrierRelease, .workerDone: fields |= HeaderField.name.bit
        case .push: fields |= HeaderField.table.bit | HeaderField.keyCount.bit | HeaderField.valueLength.bit
        case .pull:
            fields |= HeaderField.table.bit
            fields |= flags.contains(.rangeRequest) ? HeaderField.keyRange.bit : HeaderField.keyCount.bit
        case .pullReply: fields |= HeaderField.table.bit | HeaderField.keyCount.bit | HeaderField.valueLength.bit
        case .error: fields |= HeaderField.errorCode.bit
        case .rangeFunction: fields |= HeaderField.table.bit | HeaderField.keyRange.bit | HeaderField.updater.bit
        case .rangeFunctionAck: fields |= HeaderField.table.bit
        case .replicate:
            fields |= HeaderField.table.bit | HeaderField.keyCount.bit | HeaderField.valueLength.bit
        case .replicaReady: fields |= HeaderField.keyRange.bit | HeaderField.tableVersion.bit
        case .heartbeat, .shutdown, .shutdownAck, .leave, .pushAck, .replicateAck: break
        }
        if flags.contains(.keysCached) || flags.contains(.cacheKeys) { fields |= HeaderField.keyCacheHash.bit }
        return fields
    }
}

/// Writes the fields of a header, in the order docs/PROTOCOL.md lists them: the map, its keys and its
/// integers straight into the ``PackBuffer`` the packer writes to, the rest through the msgpack-c
/// packer (whose callback appends to the same buffer, so the two kinds of writes stay in order).
struct HeaderPacker {
    let packer: UnsafeMutablePointer<msgpack_packer>

    /// The buffer behind the packer.
    private var buffer: UnsafeMutablePointer<PackBuffer> { packer.pointee.data.assumingMemoryBound(to: PackBuffer.self) }

    func pack(_ header: Header) {
        let required = HeaderCodec.requiredFields(kind: header.kind, flags: header.flags)
        func wanted(_ field: HeaderField, _ isZero: Bool) -> Bool { !isZero || required & field.bit != 0 }
        let writeTable = wanted(.table, header.table == 0)
        let writeTimestamp = wanted(.timestamp, header.timestamp == 0)
        let writeFlags = wanted(.flags, header.flags.rawValue == 0)
        let writeKeyCount = wanted(.keyCount, header.keyCount == 0)
        let writeValueLength = wanted(.valueLength, header.valueLength == 0)

        var entries = 4
        func count(_ present: Bool) { if present { entries += 1 } }
        count(writeTable)
        count(writeTimestamp)
        count(header.keyRange != nil)
        count(writeFlags)
        count(writeKeyCount)
        count(writeValueLength)
        count(header.updater != nil)
        count(header.role != nil)
        count(header.rank != nil)
        count(header.endpoint != nil)
        count(header.nodeTable != nil)
        count(header.name != nil)
        count(header.errorCode != nil)
        count(header.errorMessage != nil)
        count(header.clock != nil)
        count(header.keyCacheHash != nil)
        count(header.compressedSizes != nil)
        count(header.acceptedEncodings != nil)
        count(header.arguments != nil)
        count(header.iteration != nil)
        count(!header.origins.isEmpty)
        count(header.tableVersion != nil)
        count(!header.clockRecords.isEmpty)
        count(!header.segments.isEmpty)
        buffer.pointee.appendMapHeader(entries)

        unsigned(.version, UInt64(header.version))
        unsigned(.kind, UInt64(header.kind.rawValue))
        unsigned(.sender, UInt64(header.sender.rawValue))
        unsigned(.requestID, header.requestID)
        if writeTable { unsigned(.table, UInt64(header.table)) }
        if writeTimestamp {
            key(.timestamp)
            buffer.pointee.appendSigned(header.timestamp)
        }
        if let range = header.keyRange {
            key(.keyRange)
            keyRange(range)
        }
        if writeFlags { unsigned(.flags, UInt64(header.flags.rawValue)) }
        if writeKeyCount { unsigned(.keyCount, UInt64(header.keyCount)) }
        if writeValueLength { unsigned(.valueLength, UInt64(header.valueLength)) }
        if let updater = header.updater { string(.updater, updater) }
        if let role = header.role { unsigned(.role, UInt64(role.rawValue)) }
        if let rank = header.rank { unsigned(.rank, UInt64(rank)) }
        if let endpoint = header.endpoint { string(.endpoint, endpoint) }
        if let table = header.nodeTable {
            key(.nodeTable)
            nodeTable(table)
        }
        if let name = header.name { string(.name, name) }
        if let code = header.errorCode { unsigned(.errorCode, UInt64(code.rawValue)) }
        if let message = header.errorMessage { string(.errorMessage, message) }
        if let clock = header.clock {
            key(.clock)
            msgpack_pack_array(packer, clock.count)
            for entry in clock { msgpack_pack_int64(packer, entry) }
        }
        if let hash = header.keyCacheHash { unsigned(.keyCacheHash, hash) }
        if let sizes = header.compressedSizes {
            key(.compressedSizes)
            msgpack_pack_array(packer, sizes.count)
            for size in sizes { msgpack_pack_uint64(packer, UInt64(size)) }
        }
        if let encodings = header.acceptedEncodings { unsigned(.acceptedEncodings, UInt64(encodings.rawValue)) }
        if let arguments = header.arguments {
            key(.arguments)
            msgpack_pack_array(packer, arguments.count)
            for argument in arguments { msgpack_pack_double(packer, argument) }
        }
        if let iteration = header.iteration {
            key(.iteration)
            buffer.pointee.appendSigned(iteration)
        }
        if !header.origins.isEmpty {
            key(.origin)
            msgpack_pack_array(packer, 3 * header.origins.count)
            for origin in header.origins {
                msgpack_pack_uint64(packer, UInt64(origin.server.rawValue))
                msgpack_pack_uint64(packer, UInt64(origin.sender.rawValue))
                msgpack_pack_uint64(packer, origin.requestID)
            }
        }
        if let version = header.tableVersion { unsigned(.tableVersion, version) }
        if !header.clockRecords.isEmpty {
            key(.clockRecords)
            msgpack_pack_array(packer, 4 * header.clockRecords.count)
            for record in header.clockRecords {
                msgpack_pack_uint64(packer, UInt64(record.node))
                msgpack_pack_uint64(packer, record.range.lowerBound)
                msgpack_pack_uint64(packer, record.range.upperBound)
                msgpack_pack_int64(packer, record.timestamp.rawValue)
            }
        }
        if !header.segments.isEmpty {
            key(.segments)
            msgpack_pack_array(packer, 2 * header.segments.count)
            for segment in header.segments {
                msgpack_pack_uint64(packer, segment.lowerBound)
                msgpack_pack_uint64(packer, segment.upperBound)
            }
        }
    }

    private func key(_ field: HeaderField) { key(field.key) }

    private func key(_ text: StaticString) {
        buffer.pointee.appendShortString(text)
    }

    private func unsigned(_ field: HeaderField, _ value: UInt64) {
        key(field)
        buffer.pointee.appendUnsigned(value)
    }

    private func string(_ field: HeaderField, _ value: String) {
        key(field)
        string(value)
    }

    private func string(_ value: String) {
        let written = value.utf8.withContiguousStorageIfAvailable { bytes in
            msgpack_pack_str_with_body(packer, bytes.baseAddress, bytes.count)
        }
        if written == nil {
            let bytes = Array(value.utf8)
            msgpack_pack_str_with_body(packer, bytes, bytes.count)
        }
    }

    private func binary(_ bytes: [UInt8]) {
        msgpack_pack_bin_with_body(packer, bytes, bytes.count)
    }

    private func keyRange(_ range: KeyRange) {
        msgpack_pack_array(packer, 2)
        msgpack_pack_uint64(packer, range.lowerBound)
        msgpack_pack_uint64(packer, range.upperBound)
    }

    private func nodeTable(_ table: NodeTable) {
        let catchingUp = table.chains.filter { $0.catchingUp > 0 }
        msgpack_pack_map(
            packer, 2 + (table.chains.isEmpty ? 0 : 1) + (catchingUp.isEmpty ? 0 : 1) + (table.base == nil ? 0 : 1))
        key(NodeTableField.version.key)
        msgpack_pack_uint64(packer, table.version)
        if let base = table.base {
            key(NodeTableField.base.key)
            msgpack_pack_uint64(packer, base)
        }
        key(NodeTableField.nodes.key)
        msgpack_pack_array(packer, table.nodes.count)
        for node in table.nodes {
            msgpack_pack_map(packer, 5 + (node.routingID == nil ? 0 : 1) + (node.publicKey == nil ? 0 : 1))
            key(NodeTableField.id.key)
            msgpack_pack_uint64(packer, UInt64(node.id.rawValue))
            key(NodeTableField.role.key)
            msgpack_pack_uint64(packer, UInt64(node.role.rawValue))
            key(NodeTableField.rank.key)
            msgpack_pack_uint64(packer, UInt64(node.rank))
            key(NodeTableField.endpoint.key)
            string(node.endpoint)
            key(NodeTableField.ranges.key)
            msgpack_pack_array(packer, node.ranges.count)
            for range in node.ranges { keyRange(range) }
            if let routingID = node.routingID {
                key(NodeTableField.routingID.key)
                binary(routingID)
            }
            if let publicKey = node.publicKey {
                key(NodeTableField.publicKey.key)
                binary(publicKey.bytes)
            }
        }
        guard !table.chains.isEmpty else { return }
        key(NodeTableField.chains.key)
        msgpack_pack_array(packer, table.chains.count)
        for chain in table.chains {
            msgpack_pack_array(packer, 2 + chain.nodes.count)
            msgpack_pack_uint64(packer, chain.range.lowerBound)
            msgpack_pack_uint64(packer, chain.range.upperBound)
            for node in chain.nodes { msgpack_pack_uint64(packer, UInt64(node.rawValue)) }
        }
        guard !catchingUp.isEmpty else { return }
        key(NodeTableField.catchingUp.key)
        msgpack_pack_array(packer, catchingUp.count)
        for chain in catchingUp {
            msgpack_pack_array(packer, 3)
            msgpack_pack_uint64(packer, chain.range.lowerBound)
            msgpack_pack_uint64(packer, chain.range.upperBound)
            msgpack_pack_uint64(packer, UInt64(chain.catchingUp))
        }
    }
}
