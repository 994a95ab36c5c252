import ZeroMQ

/// Chain replication on the stores of a served table (docs/FAULT-TOLERANCE.md): the results a
/// primary forwards after a push, and a replica writing them.
extension ServedTable {
    /// One ``MessageKind/replicate`` per slice of an applied push: the keys the slice touched and,
    /// per key, the values and updater state the push left (``RangeStore/readEntries(keys:count:into:)``).
    func results(of message: Message, slices: [Slice], origin: RequestOrigin) -> [(range: KeyRange, message: Message)] {
        guard let keys = message.keys else { return [] }
        return slices.map { slice in
            let store = stores[slice.store]
            let count = slice.keys.count
            let width = store.entryWidth
            let (keyFrame, entries) = keys.withUnsafeBytes { raw in
                let start = raw.baseAddress! + 8 * slice.keys.lowerBound
                let keyFrame = Frame(copying: UnsafeRawBufferPointer(start: start, count: 8 * count))
                let entries = Frame.allocate(count: 4 * width * count) { output in
                    store.readEntries(
                        keys: start, count: count, into: output.baseAddress!.assumingMemoryBound(to: Float.self))
                }
                return (keyFrame, entries)
            }
            var header = Header(
                kind: .replicate, table: spec.id, timestamp: message.header.timestamp,
                keyCount: UInt32(count), valueLength: UInt32(width))
            header.origin = origin
            return (store.range, Message(header: header, keys: keyFrame, values: entries))
        }
    }

    /// A whole copy of `range` as this server holds it (primary or replica): replicates of at most
    /// `partKeys` keys each, holding every stored key with its values and updater state.
    func copy(of range: KeyRange, origin: RequestOrigin, partKeys: Int = 1 << 16) -> [Message] {
        guard let store = (stores + replicas).first(where: { $0.range == range }) else { return [] }
        let keys = store.snapshot(of: range).keys
        let width = store.entryWidth
        return stride(from: 0, to: keys.count, by: partKeys).map { start in
            let count = min(partKeys, keys.count - start)
            let keyFrame = Frame(array: keys, range: start..<(start + count))
            let entries = keys.withUnsafeBytes { raw in
                Frame.allocate(count: 4 * width * count) { output in
                    store.readEntries(
                        keys: raw.baseAddress! + 8 * start, count: count,
                        into: output.baseAddress!.assumingMemoryBound(to: Float.self))
                }
            }
            var header = Header(kind: .replicate, sender: origin.server, table: spec.id, keyCount: UInt32(count), valueLength: UInt32(width))
            header.origin = origin
            return Message(header: header, keys: keyFrame, values: entries)
        }
    }

    /// The replica store that holds every key of a replicate whose entries fit it; throws when there
    /// is none.
    func replicaStore(for message: Message) throws(WireError) -> RangeStore {
        let header = message.header
        let count = message.keyCount
        guard count > 0, let keys = message.keys, message.values != nil else {
            throw WireError(.invalidRequest, field: "n", "a replicate carries at least one key")
        }
        let (first, last) = keys.withUnsafeBytes { raw in
            (raw.loadUnaligned(as: UInt64.self), raw.loadUnaligned(fromByteOffset: 8 * (count - 1), as: UInt64.self))
        }
        guard let store = replicas.first(where: { $0.range.contains(first) && $0.range.contains(last) }) else {
            let held = replicas.map(\.range.description).joined(separator: ", ")
            throw WireError(
                .keyOutOfRange, field: "frame 1 (keys)",
                "keys \(first)...\(last) are not inside one replica range of this server (\(held.isEmpty ? "none" : held))")
        }
        guard Int(header.valueLength) == store.entryWidth else {
            throw WireError(
                .sizeMismatch, field: "vl",
                "table '\(spec.name)' keeps \(store.entryWidth) floats per key with '\(updater.name)', the replicate has \(header.valueLength)")
        }
        return store
    }
}

extension RangeStore {
    /// Writes a replicate's entries (checked by ``ServedTable/replicaStore(for:)``).
    func write(replicate message: Message) {
        guard let keys = message.keys, let entries = message.values else { return }
        keys.withUnsafeBytes { keyBytes in
            entries.withUnsafeBytes { entryBytes in
                writeEntries(keys: keyBytes.baseAddress!, count: message.keyCount, entries: entryBytes.baseAddress!)
            }
        }
    }
}
