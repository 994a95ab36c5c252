import ZeroMQ

/// Chain replication on the stores of a served table (docs/FAULT-TOLERANCE.md): the results a
/// primary forwards after a push, and a replica writing them.
extension ServedTable {
    /// The result sequence of the primary store of `range` (0 when there is none).
    func resultSequence(of range: KeyRange) -> Int64 {
        stores.first { $0.range == range }?.resultSequence ?? 0
    }

    /// The replicates of a batch's `keys` of `range` (sorted, unique): per key the values and
    /// updater state the pushes left, in parts of at most `partKeys` keys, the store's
    /// ``RangeStore/resultSequence`` set to the flush's `sequence` first (above every range's it
    /// flushes). Only the last part names the pushes (`origins`) and what they recorded in the
    /// range's vector clock (`clock`, sent as `vc`), so that a replica records them once it holds
    /// every part.
    func results(
        range: KeyRange, keys: [UInt64], origins: [RequestOrigin], clock: [ClockRecord] = [], sequence: Int64,
        partKeys: Int = 1 << 16
    ) -> [(range: KeyRange, message: Message)] {
        guard let store = stores.first(where: { $0.range == range }) else { return [] }
        guard !keys.isEmpty else {
            // A bsp segment's iteration that changed none of its keys still goes down the chain.
            guard store.appliedIteration != nil else { return [] }
            store.resultSequence = sequence
            var mark = store.iterationMark(table: spec.id, origins: origins)
            mark.header.clockRecords = clock
            return [(range, mark)]
        }
        store.resultSequence = sequence
        let starts = Array(stride(from: 0, to: keys.count, by: partKeys))
        return starts.map { start in
            let part = start..<min(start + partKeys, keys.count)
            guard start == starts.last else { return (range, store.replicate(table: spec.id, keys: keys, part: part, origins: [])) }
            var message = store.replicate(table: spec.id, keys: keys, part: part, origins: origins)
            message.header.clockRecords = clock
            return (range, message)
        }
    }

    /// The most clock entries one copy part carries (about 30 bytes each in the header); a clock
    /// that needs more is sent coarser (``VectorClock/records(in:limit:)``).
    static let clockRecordLimit = 256

    /// The store of exactly `range`, primary or replica.
    func store(holding range: KeyRange) -> RangeStore? {
        stores.first { $0.range == range } ?? replicas.first { $0.range == range }
    }

    /// The replica stores that hold the keys of a replicate, with the positions of their keys in
    /// it: one store, or, for a result sent before a join cut its segment, each piece it spans.
    /// Throws when a key lies in none, or the entries do not fit.
    func replicaPieces(for message: Message) throws(WireError) -> [(store: RangeStore, keys: Range<Int>)] {
        let count = message.keyCount
        if count == 0, message.header.iteration != nil, !message.header.segments.isEmpty {
            // An iteration mark (``RangeStore/iterationMark(table:origins:)``).
            return try iterationPieces(of: message, besides: [])
        }
        let keyed = try keyedPieces(for: message)
        guard message.header.iteration != nil, !message.header.segments.isEmpty else { return keyed }
        return try iterationPieces(of: message, besides: keyed)
    }

    /// For a replicate of a `bsp` table, `keyed` and the replica stores inside its segments (`sg`)
    /// that got none of its keys, without keys: the iteration it carries is theirs too. Its
    /// segments are this server's, or segments a join cut since, of which it may hold some pieces
    /// only; an iteration mark must reach at least one.
    private func iterationPieces(
        of message: Message, besides keyed: [(store: RangeStore, keys: Range<Int>)]
    ) throws(WireError) -> [(store: RangeStore, keys: Range<Int>)] {
        var pieces = keyed
        for store in replicas where store.appliedIteration != nil && !keyed.contains(where: { $0.store === store }) {
            if message.header.segments.contains(where: { $0.contains(store.range) }) { pieces.append((store, 0..<0)) }
        }
        guard !pieces.isEmpty else {
            throw WireError(.keyOutOfRange, field: "sg", "no replica range of a bsp table on this server lies in \(message.header.segments)")
        }
        return pieces.sorted { $0.store.range.lowerBound < $1.store.range.lowerBound }
    }

    /// The replica stores that hold the keys of a replicate, with the positions of their keys in it.
    private func keyedPieces(for message: Message) throws(WireError) -> [(store: RangeStore, keys: Range<Int>)] {
        let count = message.keyCount
        guard count > 0, let keys = message.keys, message.values != nil else {
            throw WireError(.invalidRequest, field: "n", "a replicate carries at least one key")
        }
        // One store holds it all, the usual case for a single range's result; a bundle spans several.
        let (first, last) = keys.withUnsafeBytes { raw in
            (raw.loadUnaligned(as: UInt64.self), raw.loadUnaligned(fromByteOffset: 8 * (count - 1), as: UInt64.self))
        }
        if replicas.contains(where: { $0.range.contains(first) && $0.range.contains(last) }) {
            return [(try replicaStore(for: message), 0..<count)]
        }
        var pieces: [(store: RangeStore, keys: Range<Int>)] = []
        keys.withUnsafeBytes { raw in
            var index = 0
            for store in replicas where index < count {
                let key = raw.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self)
                guard store.range.contains(key) else { continue }
                let end = KeyFrameSearch.firstIndex(in: raw, count: count, notBelow: store.range.upperBound, from: index)
                pieces.append((store, index..<end))
                index = end
            }
        }
        let covered = pieces.reduce(0) { $0 + $1.keys.count }
        guard covered == count, pieces.allSatisfy({ $0.store.entryWidth == Int(message.header.valueLength) }) else {
            throw WireError(
                .keyOutOfRange, field: "frame 1 (keys)",
                "the replicate's keys are not inside replica ranges of this server with \(message.header.valueLength) floats per key")
        }
        return pieces
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
    /// A ``MessageKind/replicate`` of the keys `keys[part]` of table `table`: per key, the values
    /// and updater state this store holds now, the pushes (`origins`) whose results they hold, and
    /// in `ts` the store's ``resultSequence``.
    func replicate(table: UInt32, keys: [UInt64], part: Range<Int>, origins: [RequestOrigin]) -> Message {
        let width = entryWidth
        let entries = keys.withUnsafeBytes { raw in
            Frame.allocate(count: 4 * width * part.count) { output in
                readEntries(
                    keys: raw.baseAddress! + 8 * part.lowerBound, count: part.count,
                    into: output.baseAddress!.assumingMemoryBound(to: Float.self))
            }
        }
        var header = Header(kind: .replicate, table: table, keyCount: UInt32(part.count), valueLength: UInt32(width))
        header.timestamp = resultSequence
        header.origins = origins
        header.iteration = appliedIteration
        if appliedIteration != nil { header.segments = [range] }
        return Message(header: header, keys: Frame(array: keys, range: part), values: entries)
    }

    /// A ``MessageKind/replicate`` without keys that carries, in `it`, the store's
    /// ``appliedIteration`` for its segment (`sg`): what a `bsp` segment sends down its chain after
    /// an iteration that changed none of its keys, so that its replicas know the iteration was
    /// applied.
    func iterationMark(table: UInt32, origins: [RequestOrigin] = []) -> Message {
        var header = Header(kind: .replicate, table: table, keyCount: 0, valueLength: UInt32(entryWidth))
        header.timestamp = resultSequence
        header.origins = origins
        header.iteration = appliedIteration
        header.segments = [range]
        return Message(header: header, keys: Frame(array: [UInt64]()), values: Frame(array: [Float]()))
    }

    /// Writes a replicate's entries (checked by ``ServedTable/replicaStore(for:)``), unless the store
    /// holds a later result already (see ``write(replicate:keys:)``). Returns whether it wrote.
    @discardableResult
    func write(replicate message: Message) -> Bool {
        write(replicate: message, keys: 0..<message.keyCount)
    }

    /// Writes the entries of the keys at `keys` of a replicate (checked by
    /// ``ServedTable/replicaPieces(for:)``), unless the store holds a later result already (its `ts`
    /// is below ``resultSequence``): a result sent again after a reconfiguration, which the store
    /// got through the old chain before a later one. Returns whether it wrote. A `bsp` store takes
    /// the iteration the replicate carries (`it`) when it is later than its own, keys or not; a
    /// replicate with none of its keys changes nothing else, not even its place in the history:
    /// it holds none of the store's entries, so an older result with some must still be written.
    @discardableResult
    func write(replicate message: Message, keys positions: Range<Int>) -> Bool {
        if let iteration = message.header.iteration, let applied = appliedIteration { appliedIteration = max(applied, iteration) }
        guard !positions.isEmpty else { return true }
        guard message.header.timestamp >= resultSequence else { return false }
        resultSequence = message.header.timestamp
        guard let keys = message.keys, let entries = message.values else { return true }
        let width = Int(message.header.valueLength)
        keys.withUnsafeBytes { keyBytes in
            entries.withUnsafeBytes { entryBytes in
                writeEntries(
                    keys: keyBytes.baseAddress! + 8 * positions.lowerBound, count: positions.count,
                    entries: entryBytes.baseAddress! + 4 * width * positions.lowerBound)
            }
        }
        return true
    }
}
