import ZeroMQ

/// A range of one table on its way, part by part, to a server that has just become the next one
/// in its chain (docs/FAULT-TOLERANCE.md, re-protection). Each part is read from the live store
/// when it is sent, a few parts at a time between requests, so that a large range never stalls
/// the server: a result forwarded while the copy runs and a part sent after it both hold the
/// latest values, and the link delivers them in the order they were sent.
///
/// The copy carries the record of the pushes whose results the range holds (``AppliedOrigins``,
/// the recent part of it) in the parts' `org`, at most ``originsPerPart`` a part, with extra parts
/// of one key when the key parts cannot hold them all: a new replica promoted later acknowledges a
/// push a worker sends again without applying it a second time. Each key part also carries the
/// range's vector clock over its stretch of the range (`vc`; the parts' stretches cover the range),
/// so that the new replica's clock, and a promoted one's answers to `clk`, are its predecessor's.
struct RangeCopy {
    /// Keys per part.
    static let partKeys = 1 << 16
    /// Origins per part: about 20 bytes each in the header, well inside its 64 KiB limit.
    static let originsPerPart = 2048

    let table: UInt32
    let range: KeyRange
    /// The keys to send: every key of the range for a dense store (`nil`), or the keys a sorted
    /// store held when the copy began (keys it gains later go down the chain as results). None for
    /// a store nothing was written to yet, such as every store when the first node table forms the
    /// chains: its zeros are what the new replica's store holds already, so a job over 10^7 keys
    /// per server does not start by sending them down every chain.
    private let storedKeys: [UInt64]?
    private let total: Int
    private var next = 0
    /// The record of the pushes the range holds, sent along with the parts.
    private let origins: [RequestOrigin]
    private var nextOrigin = 0
    /// The key the extra parts that carry only origins send again.
    private let anchor: UInt64
    /// A `bsp` segment with nothing to send but the iterations it applied: one part without keys
    /// carries them (``RangeStore/iterationMark(table:origins:)``).
    private var marksIteration: Bool

    /// The copy of `range` of `table` with `origins`, the pushes whose results it holds, or `nil`
    /// when this server holds no store of it.
    init?(of range: KeyRange, in table: ServedTable, origins: [RequestOrigin] = []) {
        guard let store = table.store(holding: range) else { return nil }
        self.table = table.spec.id
        self.range = range
        let untouched = store.isUntouched
        storedKeys = untouched ? [] : store.isDense ? nil : store.storedKeys(in: range)
        total = storedKeys?.count ?? Int(range.count)
        // A store nothing was written to holds the result of no push.
        self.origins = untouched ? [] : origins
        anchor = storedKeys?.first ?? range.lowerBound
        marksIteration = total == 0 && (store.appliedIteration ?? -1) >= 0
    }

    private var keyParts: Int { (total + Self.partKeys - 1) / Self.partKeys }

    /// How many parts the copy sends in all.
    var partCount: Int {
        if marksIteration { return 1 }
        let carried = keyParts * Self.originsPerPart
        let extra = origins.count > carried ? (origins.count - carried + Self.originsPerPart - 1) / Self.originsPerPart : 0
        return keyParts + extra
    }

    var isDone: Bool { !marksIteration && next >= total && nextOrigin >= origins.count }

    /// The next part, read from `table`'s store now: keys and, per key, values and updater state,
    /// with the next origins of the record.
    mutating func nextPart(from table: ServedTable) -> Message? {
        guard !isDone, let store = table.store(holding: range) else { return nil }
        if marksIteration {
            marksIteration = false
            nextOrigin = origins.count
            return store.iterationMark(table: self.table)
        }
        let keys: [UInt64]
        var stretch: KeyRange?
        if next < total {
            let count = min(Self.partKeys, total - next)
            if let storedKeys {
                keys = Array(storedKeys[next..<(next + count)])
            } else {
                let first = range.lowerBound + UInt64(next)
                keys = Array(first..<(first + UInt64(count)))
            }
            // From where the previous part's stretch ended to the next part's first key.
            let lower = next == 0 ? range.lowerBound : keys[0]
            next += count
            let upper = next >= total ? range.upperBound : storedKeys?[next] ?? range.lowerBound + UInt64(next)
            stretch = KeyRange(lower, upper)
        } else {
            keys = [anchor]
        }
        let carried = origins[nextOrigin..<min(origins.count, nextOrigin + Self.originsPerPart)]
        nextOrigin += carried.count
        var part = store.replicate(table: self.table, keys: keys, part: 0..<keys.count, origins: Array(carried))
        if let stretch {
            part.header.clockRecords = table.clockRecords(of: range, in: stretch, limit: ServedTable.clockRecordLimit)
        }
        return part
    }
}
