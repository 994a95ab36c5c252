import ZeroMQ

/// The stores' side of a `bsp` table (docs/CONSISTENCY.md): which segments a push counts toward,
/// the pushes of each open iteration per segment, and applying a complete iteration's sum.
extension ServedTable {
    /// One worker's push of one iteration into one segment: where its keys lie in the message.
    struct Contribution {
        var worker: NodeID
        /// The worker's rank: sums add pushes in rank order, the same in every run.
        var rank: UInt32
        var timestamp: Int64
        var origin: RequestOrigin
        var message: Message
        var keys: Range<Int>
    }

    /// What applying a segment's iteration changed: its keys (sorted, unique), the pushes that made
    /// it, and what they recorded in the segment's clock, for its replicas.
    struct AppliedAggregate {
        var keys: [UInt64]
        var origins: [RequestOrigin]
        var clock: [ClockRecord]
    }

    /// The segments a bsp push with `header` counts toward: those its `sg` names (each made of
    /// whole segments this server heads), or every segment this server heads when it names none.
    /// Every slice of its keys must lie in one of them.
    func segments(countedBy header: Header, slices: [Slice]) throws(WireError) -> [KeyRange] {
        let heads = stores.map(\.range)
        guard !header.segments.isEmpty else { return heads }
        var counted: [KeyRange] = []
        for named in header.segments {
            let inside = heads.filter { named.contains($0) }
            guard inside.reduce(UInt64(0), { $0 + $1.count }) == named.count else {
                throw WireError(.keyOutOfRange, field: "sg", "segment \(named) is not made of ranges this server heads")
            }
            counted += inside
        }
        for slice in slices where !counted.contains(stores[slice.store].range) {
            throw WireError(
                .invalidRequest, field: "sg",
                "the push has keys in \(stores[slice.store].range), which is not one of the segments it counts toward")
        }
        return counted
    }

    /// A join cut the segment `range` into `pieces`: each goes on with the open iterations'
    /// arrivals, and with the part of each push kept toward them that lies in it.
    func splitIterations(of range: KeyRange, into pieces: [KeyRange]) {
        aggregator?.split(range, into: pieces)
        guard let open = contributions.removeValue(forKey: range) else { return }
        for piece in pieces {
            contributions[piece] = open.mapValues { pushes in
                pushes.map { push in
                    var part = push
                    part.keys = push.message.keys.map { frame in
                        frame.withUnsafeBytes { raw in
                            let count = push.message.keyCount
                            let start = min(
                                KeyFrameSearch.firstIndex(in: raw, count: count, notBelow: piece.lowerBound, from: push.keys.lowerBound),
                                push.keys.upperBound)
                            let end = KeyFrameSearch.firstIndex(in: raw, count: count, notBelow: piece.upperBound, from: start)
                            return start..<max(start, min(end, push.keys.upperBound))
                        }
                    } ?? 0..<0
                    return part
                }
            }
        }
    }

    /// Stops counting the iterations of the segments this server no longer heads (a join handed
    /// them over: their open iterations go on at the joiner, from the pushes sent again there);
    /// returns them.
    func stopCountingSegmentsNotHeaded() -> Set<KeyRange> {
        guard let counted = aggregator?.segmentRanges else { return [] }
        let gone = Set(counted).subtracting(stores.map(\.range))
        for segment in gone {
            aggregator?.removeSegment(segment)
            contributions[segment] = nil
        }
        return gone
    }

    /// Keeps the keys of `message` that lie in `segment` (`slices` say where) as `worker`'s push of
    /// `iteration` there.
    func accumulate(
        _ message: Message, slices: [Slice], segment: KeyRange, iteration: Int64, origin: RequestOrigin, rank: UInt32
    ) {
        let keys = slices.first { stores[$0.store].range == segment }?.keys ?? 0..<0
        contributions[segment, default: [:]][iteration, default: []].append(Contribution(
            worker: message.header.sender, rank: rank, timestamp: message.header.timestamp, origin: origin, message: message, keys: keys))
    }

    /// Applies the sum of `segment`'s pushes of `iteration` to its store once, summed in the order
    /// of the workers' ranks so that every run, and a primary that takes over after a failure, adds
    /// the same floats in the same order; records the pushes in the clock and the iteration in the store.
    func applyAggregate(segment: KeyRange, iteration: Int64) -> AppliedAggregate? {
        guard let index = stores.firstIndex(where: { $0.range == segment }) else { return nil }
        let store = stores[index]
        let pushes = (contributions[segment]?.removeValue(forKey: iteration) ?? []).sorted { ($0.rank, $0.worker) < ($1.rank, $1.worker) }
        if contributions[segment]?.isEmpty == true { contributions[segment] = nil }
        var sum = IterationSum(valueLength: spec.valueLength)
        var clock: [ClockRecord] = []
        for push in pushes where !push.keys.isEmpty {
            let span = push.message.keys!.withUnsafeBytes { keys in
                push.message.values!.withUnsafeBytes { values in
                    sum.add(
                        keys: keys.baseAddress! + 8 * push.keys.lowerBound, count: push.keys.count,
                        values: values.baseAddress! + 4 * spec.valueLength * push.keys.lowerBound)
                }
                return KeyRange(
                    keys.loadUnaligned(fromByteOffset: 8 * push.keys.lowerBound, as: UInt64.self),
                    keys.loadUnaligned(fromByteOffset: 8 * (push.keys.upperBound - 1), as: UInt64.self) + 1)
            }
            recordApplied(sender: push.worker, timestamp: push.timestamp, spans: [(index, span)])
            if let record = clockRecord(of: push.message.header, span: span) { clock.append(record) }
        }
        sum.keys.withUnsafeBytes { keys in
            sum.values.withUnsafeBytes { values in
                guard let keyBase = keys.baseAddress, let valueBase = values.baseAddress else { return }
                store.push(keys: keyBase, count: sum.keys.count, values: valueBase, updater: updater)
            }
        }
        store.appliedIteration = iteration
        return AppliedAggregate(keys: sum.keys, origins: pushes.map(\.origin), clock: clock)
    }
}
