import ZeroMQ

/// A range of one table on its way, part by part, to a server that has just become the next one
/// in its chain (docs/FAULT-TOLERANCE.md, re-protection). Each part is read from the live store
/// when it is sent, a few parts at a time between requests, so that a large range never stalls
/// the server: a result forwarded while the copy runs and a part sent after it both hold the
/// latest values, and the link delivers them in the order they were sent.
struct RangeCopy {
    /// Keys per part.
    static let partKeys = 1 << 16

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

    /// The copy of `range` of `table`, or `nil` when this server holds no store of it.
    init?(of range: KeyRange, in table: ServedTable) {
        guard let store = table.store(holding: range) else { return nil }
        self.table = table.spec.id
        self.range = range
        storedKeys = store.isUntouched ? [] : store.isDense ? nil : store.storedKeys(in: range)
        total = storedKeys?.count ?? Int(range.count)
    }

    /// How many parts the copy sends in all.
    var partCount: Int { (total + Self.partKeys - 1) / Self.partKeys }

    var isDone: Bool { next >= total }

    /// The next part, read from `table`'s store now: keys and, per key, values and updater state.
    mutating func nextPart(from table: ServedTable, origin: RequestOrigin) -> Message? {
        guard !isDone, let store = table.store(holding: range) else { return nil }
        let count = min(Self.partKeys, total - next)
        let keys: [UInt64]
        if let storedKeys {
            keys = Array(storedKeys[next..<(next + count)])
        } else {
            let first = range.lowerBound + UInt64(next)
            keys = Array(first..<(first + UInt64(count)))
        }
        next += count
        return store.replicate(table: self.table, keys: keys, part: 0..<count, origins: [origin])
    }
}
