import ZeroMQ

/// Key lists by hash with a byte budget, evicting the least recently used list first.
///
/// Both ends of key caching keep one per peer and table: the sender to know which lists the
/// receiver holds (and to compare lists whose hashes collide), the receiver to restore keys.
struct KeyListCache {
    struct Entry {
        var keys: Frame
        var lastUse: UInt64
        /// Sender side: the receiver confirmed it holds this list.
        var acknowledged: Bool
    }

    let capacityBytes: Int
    private(set) var entries: [UInt64: Entry] = [:]
    private(set) var storedBytes = 0
    private(set) var evictions = 0
    private var clock: UInt64 = 0

    init(capacityBytes: Int) {
        self.capacityBytes = capacityBytes
    }

    /// The list stored under `hash`, marked as just used.
    mutating func lookup(_ hash: UInt64) -> Entry? {
        guard var entry = entries[hash] else { return nil }
        clock &+= 1
        entry.lastUse = clock
        entries[hash] = entry
        return entry
    }

    /// Stores `keys` under `hash` (replacing what was there), evicting old lists to stay in budget.
    /// A list larger than the whole budget is not stored.
    mutating func store(_ keys: Frame, hash: UInt64, acknowledged: Bool) -> Bool {
        guard keys.count <= capacityBytes else { return false }
        remove(hash)
        while storedBytes + keys.count > capacityBytes, let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
            remove(oldest.key)
            evictions += 1
        }
        clock &+= 1
        entries[hash] = Entry(keys: keys, lastUse: clock, acknowledged: acknowledged)
        storedBytes += keys.count
        return true
    }

    mutating func setAcknowledged(_ hash: UInt64, _ acknowledged: Bool) {
        entries[hash]?.acknowledged = acknowledged
    }

    mutating func remove(_ hash: UInt64) {
        if let old = entries.removeValue(forKey: hash) { storedBytes -= old.keys.count }
    }

    mutating func removeAll() {
        entries.removeAll()
        storedBytes = 0
    }
}
