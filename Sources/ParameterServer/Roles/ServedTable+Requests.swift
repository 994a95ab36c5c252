import ZeroMQ

/// The store-level work of a push or pull: where its keys go, applying, reading, summing.
extension ServedTable {
    /// The part of a request's keys that one of the server's stores holds.
    struct Slice {
        /// The index of the store.
        var store: Int
        /// The positions of the keys in the request.
        var keys: Range<Int>
        /// From the first to the last of those keys: what the push updated, or the pull read, in the
        /// store's vector clock.
        var span: KeyRange

        var clockSpan: (store: Int, keys: KeyRange) { (store, span) }
    }

    /// The part of the request's (sorted) keys each store holds; throws if any key lies outside them all.
    func slices(of message: Message) throws -> [Slice] {
        let count = message.keyCount
        guard count > 0, let keys = message.keys else { return [] }
        return try keys.withUnsafeBytes { raw in
            var result: [Slice] = []
            var index = 0
            for (storeIndex, store) in stores.enumerated() where index < count {
                let key = raw.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self)
                guard store.range.contains(key) else { continue }
                let end = KeyFrameSearch.firstIndex(in: raw, count: count, notBelow: store.range.upperBound, from: index)
                let last = raw.loadUnaligned(fromByteOffset: 8 * (end - 1), as: UInt64.self)
                result.append(Slice(store: storeIndex, keys: index..<end, span: KeyRange(key, last + 1)))
                index = end
            }
            if index < count {
                let key = raw.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self)
                let owned = stores.map(\.range.description).joined(separator: ", ")
                throw WireError(.keyOutOfRange, field: "frame 1 (keys)", "key \(key) is not in this server's ranges \(owned)")
            }
            return result
        }
    }

    /// Applies a push with `updater` and records it in the clocks.
    func apply(_ message: Message, slices: [Slice], updater: any Updater) throws {
        for slice in slices { try stores[slice.store].check(updater: updater) }
        let width = spec.valueLength
        message.keys?.withUnsafeBytes { keys in
            message.values?.withUnsafeBytes { values in
                for slice in slices {
                    stores[slice.store].push(
                        keys: keys.baseAddress! + 8 * slice.keys.lowerBound, count: slice.keys.count,
                        values: values.baseAddress! + 4 * width * slice.keys.lowerBound, updater: updater)
                }
            }
        }
        recordApplied(sender: message.header.sender, timestamp: message.header.timestamp, spans: slices.map(\.clockSpan))
    }

    /// The values of a pull's keys, in their order.
    func read(_ message: Message, slices: [Slice]) -> Frame {
        let width = spec.valueLength
        return Frame.allocate(count: 4 * width * message.keyCount) { output in
            message.keys?.withUnsafeBytes { keys in
                for slice in slices {
                    stores[slice.store].pull(
                        keys: keys.baseAddress! + 8 * slice.keys.lowerBound, count: slice.keys.count,
                        into: output.baseAddress! + 4 * width * slice.keys.lowerBound)
                }
            }
        }
    }

    /// Every stored key of `range` and its values, and the parts of the stores it covers.
    func snapshot(of range: KeyRange) -> (keys: [UInt64], values: [Float], spans: [(store: Int, keys: KeyRange)]) {
        var keys: [UInt64] = []
        var values: [Float] = []
        var spans: [(store: Int, keys: KeyRange)] = []
        for (index, store) in stores.enumerated() {
            let part = store.snapshot(of: range)
            keys += part.keys
            values += part.values
            let covered = range.intersection(store.range)
            if !covered.isEmpty { spans.append((index, covered)) }
        }
        return (keys, values, spans)
    }
}
