/// Per key range, the timestamp of every node's latest update applied there, stored compacted.
///
/// The keys a server covers are cut into segments; each segment holds one clock vector (one
/// ``Timestamp`` raw value per node, nodes indexed `0..<nodeCount`, 0 meaning "nothing applied").
/// Adjacent segments never hold equal vectors: an update splits segments only where its range starts
/// and ends, and merges them again as soon as their vectors agree. When every node always updates the
/// whole range, the clock stays a single segment however many updates it records.
///
/// A node's entry only grows: applying timestamp `t` sets the entry to `max(entry, t)`. Servers apply
/// a sender's requests in issue order (``RequestDeduplicator``), so as long as a worker starts its
/// tasks in timestamp order (every model without explicit `after` out of order does), an entry `t`
/// means "every update of this node up to `t` is applied here".
///
/// Cost of ``apply(node:range:timestamp:)``: a binary search, work proportional to the segments the
/// range touches (times `nodeCount` where a vector is written, copied or compared), and, only when the
/// number of segments changes, one move of the segment index behind the update (16 bytes per segment
/// whatever `nodeCount` is, because vectors live in a separate pool of slots that never moves).
public struct VectorClock: Sendable {
    /// One run of keys that share a clock vector.
    public struct Segment: Hashable, Sendable {
        /// The keys of the segment.
        public var range: KeyRange
        /// One entry per node: the raw timestamp of its latest update applied to these keys.
        public var clock: [Int64]
    }

    /// The keys the clock covers.
    public let range: KeyRange
    /// The number of nodes (entries per vector).
    public private(set) var nodeCount: Int

    /// Where each segment starts, ascending; segment `s` ends where `s + 1` starts (the last at
    /// `range.upperBound`).
    private var starts: [UInt64]
    /// The slot in `pool` that holds each segment's vector.
    private var slots: [Int]
    /// Vectors, `nodeCount` entries per slot; slots are recycled through `freeSlots`.
    private var pool: [Int64]
    private var freeSlots: [Int] = []

    /// A clock over `range` (not empty) for `nodeCount` nodes, with no update applied.
    public init(range: KeyRange, nodeCount: Int) {
        precondition(!range.isEmpty, "a vector clock needs a non-empty key range")
        precondition(nodeCount > 0, "a vector clock needs at least one node")
        self.range = range
        self.nodeCount = nodeCount
        self.starts = [range.lowerBound]
        self.slots = [0]
        self.pool = Array(repeating: 0, count: nodeCount)
    }

    /// The number of segments.
    public var segmentCount: Int { starts.count }

    /// The segments in key order.
    public var segments: [Segment] {
        starts.indices.map { Segment(range: KeyRange(starts[$0], end(ofSegment: $0)), clock: vector(slots[$0])) }
    }

    /// Records that `node`'s update with `timestamp` was applied to the keys of `updated` (clipped to
    /// the keys the clock covers).
    public mutating func apply(node: Int, range updated: KeyRange, timestamp: Timestamp) {
        precondition(node >= 0 && node < nodeCount, "node index \(node) outside 0..<\(nodeCount)")
        let target = updated.intersection(range)
        guard !target.isEmpty else { return }
        let first = segmentIndex(containing: target.lowerBound)
        let last = segmentIndex(containing: target.upperBound - 1)
        // The neighbours on either side take part so that a segment equal to them merges back.
        let lowIndex = max(first - 1, 0)
        let highIndex = min(last + 2, starts.count)

        // The new segments of lowIndex..<highIndex, built in scratch space (every push applies one
        // clock update, so this allocates nothing): each old segment gives at most three pieces.
        withUnsafeTemporaryAllocation(of: (start: UInt64, slot: Int).self, capacity: 3 * (highIndex - lowIndex)) { pieces in
            var count = 0
            func append(_ start: UInt64, _ slot: Int) {
                pieces[count] = (start, slot)
                count += 1
            }
            for s in lowIndex..<highIndex {
                let segmentStart = starts[s]
                let slot = slots[s]
                if s < first || s > last || pool[slot * nodeCount + node] >= timestamp.rawValue {
                    append(segmentStart, slot)
                    continue
                }
                let segmentEnd = end(ofSegment: s)
                let lower = max(segmentStart, target.lowerBound)
                let upper = min(segmentEnd, target.upperBound)
                if segmentStart < lower {
                    append(segmentStart, copyOfSlot(slot))
                }
                let rightSlot = upper < segmentEnd ? copyOfSlot(slot) : nil
                pool[slot * nodeCount + node] = timestamp.rawValue
                append(lower, slot)
                if let rightSlot {
                    append(upper, rightSlot)
                }
            }
            // Merge neighbours with equal vectors, in place.
            var merged = 0
            for index in 0..<count {
                if merged > 0, slotsAreEqual(pieces[merged - 1].slot, pieces[index].slot) {
                    freeSlots.append(pieces[index].slot)
                } else {
                    pieces[merged] = pieces[index]
                    merged += 1
                }
            }
            let result = UnsafeBufferPointer(rebasing: pieces[0..<merged])
            starts.replaceSubrange(lowIndex..<highIndex, with: result.lazy.map(\.start))
            slots.replaceSubrange(lowIndex..<highIndex, with: result.lazy.map(\.slot))
        }
    }

    /// Makes room for nodes up to `count - 1` (e.g. a client that joined after the clock was made);
    /// their entries start at 0. Costs one copy of every vector; does nothing if `count` is not larger.
    public mutating func extend(toNodeCount count: Int) {
        guard count > nodeCount else { return }
        let slotCount = pool.count / nodeCount
        var extended = [Int64](repeating: 0, count: slotCount * count)
        for slot in 0..<slotCount {
            for node in 0..<nodeCount { extended[slot * count + node] = pool[slot * nodeCount + node] }
        }
        pool = extended
        nodeCount = count
    }

    /// The clock of what a read of `keys` sees: the elementwise minimum of the vectors of every segment
    /// it overlaps, so entry `n` is a timestamp up to which node `n`'s updates are applied to all of
    /// those keys. `nil` when `keys` lies outside the clock's range.
    public func clock(of keys: KeyRange) -> [Int64]? {
        let target = keys.intersection(range)
        guard !target.isEmpty else { return nil }
        let first = segmentIndex(containing: target.lowerBound)
        let last = segmentIndex(containing: target.upperBound - 1)
        var result = vector(slots[first])
        guard first < last else { return result }
        let count = nodeCount
        result.withUnsafeMutableBufferPointer { minimum in
            pool.withUnsafeBufferPointer { vectors in
                for s in (first + 1)...last {
                    let base = slots[s] * count
                    for n in 0..<count where vectors[base + n] < minimum[n] {
                        minimum[n] = vectors[base + n]
                    }
                }
            }
        }
        return result
    }

    /// The clock vector of the segment holding `key`, or `nil` outside the clock's range.
    public func clock(at key: UInt64) -> [Int64]? {
        range.contains(key) ? vector(slots[segmentIndex(containing: key)]) : nil
    }

    /// The elementwise minimum of two clock vectors of equal length, e.g. to combine the clocks of a
    /// pull's replies from several servers.
    public static func elementwiseMinimum(_ a: [Int64], _ b: [Int64]) -> [Int64] {
        precondition(a.count == b.count, "clock vectors of different lengths")
        return zip(a, b).map { min($0, $1) }
    }

    /// This clock's state over `keys` as records: per segment overlapping `keys` (clipped to them),
    /// one record per node whose entry is not 0. Applied (``apply(_:)``) to a clock of the same keys
    /// that saw no update this one did not, they make its entries over `keys` equal to this clock's.
    ///
    /// When that takes more than `limit` records, the records describe a coarser clock that claims
    /// no more than this one: one run over `keys` with the elementwise minimum of its segments, and
    /// if that still has more than `limit` entries that are not 0, only the first `limit` of them
    /// (a receiver keeps what it had for the others). Entries only grow, so a later exact record
    /// set brings the receiver level again.
    public func records(in keys: KeyRange, limit: Int) -> [ClockRecord] {
        let target = keys.intersection(range)
        guard !target.isEmpty, limit > 0 else { return [] }
        let first = segmentIndex(containing: target.lowerBound)
        let last = segmentIndex(containing: target.upperBound - 1)
        var records: [ClockRecord] = []
        for s in first...last {
            let segment = KeyRange(max(starts[s], target.lowerBound), min(end(ofSegment: s), target.upperBound))
            let base = slots[s] * nodeCount
            for node in 0..<nodeCount where pool[base + node] > 0 {
                records.append(ClockRecord(node: node, range: segment, timestamp: Timestamp(pool[base + node])))
            }
        }
        guard records.count > limit, let minimum = clock(of: target) else { return records }
        return Array(minimum.enumerated().lazy.filter { $0.element > 0 }.prefix(limit).map {
            ClockRecord(node: $0.offset, range: target, timestamp: Timestamp($0.element))
        })
    }

    /// Applies `records` (``apply(node:range:timestamp:)`` for each, clipped to this clock's keys),
    /// widening the clock first for a node beyond it.
    public mutating func apply(_ records: [ClockRecord]) {
        if let highest = records.map(\.node).max(), highest >= nodeCount { extend(toNodeCount: highest + 1) }
        for record in records {
            apply(node: record.node, range: record.range, timestamp: record.timestamp)
        }
    }

    /// The clock of the keys of `part` (inside ``range``, not empty), with this clock's entries
    /// there: what a piece of a store cut along `part` holds.
    public func piece(_ part: KeyRange) -> VectorClock {
        precondition(!part.isEmpty && range.contains(part), "a piece \(part) outside the clock's range \(range)")
        var piece = VectorClock(range: part, nodeCount: nodeCount)
        piece.apply(records(in: part, limit: .max))
        return piece
    }

    private func end(ofSegment s: Int) -> UInt64 {
        s + 1 < starts.count ? starts[s + 1] : range.upperBound
    }

    /// The last segment whose start is at or before `key`.
    private func segmentIndex(containing key: UInt64) -> Int {
        var low = 0
        var high = starts.count
        while low < high {
            let middle = (low + high) / 2
            if starts[middle] <= key { low = middle + 1 } else { high = middle }
        }
        return low - 1
    }

    private func vector(_ slot: Int) -> [Int64] {
        Array(pool[(slot * nodeCount)..<((slot + 1) * nodeCount)])
    }

    private mutating func copyOfSlot(_ slot: Int) -> Int {
        let count = nodeCount
        let copy: Int
        if let free = freeSlots.popLast() {
            copy = free
        } else {
            copy = pool.count / count
            pool.append(contentsOf: repeatElement(0, count: count))
        }
        pool.withUnsafeMutableBufferPointer { vectors in
            let source = UnsafeMutableBufferPointer(rebasing: vectors[(slot * count)..<((slot + 1) * count)])
            _ = UnsafeMutableBufferPointer(rebasing: vectors[(copy * count)..<((copy + 1) * count)])
                .update(fromContentsOf: source)
        }
        return copy
    }

    private func slotsAreEqual(_ a: Int, _ b: Int) -> Bool {
        let count = nodeCount
        return pool.withUnsafeBufferPointer { vectors in
            UnsafeBufferPointer(rebasing: vectors[(a * count)..<((a + 1) * count)])
                .elementsEqual(UnsafeBufferPointer(rebasing: vectors[(b * count)..<((b + 1) * count)]))
        }
    }
}
