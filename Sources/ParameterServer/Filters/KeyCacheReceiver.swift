import ZeroMQ

/// The receiving half of key caching, for one peer and table: stores the key lists it is asked to
/// cache (bounded, least recently used out first) and restores the keys of messages that name one.
///
/// A list is stored only after its message passed validation and only under the hash it really
/// has, so a faulty or hostile sender cannot plant a list under another list's hash. A message
/// naming a hash the cache does not hold, or whose `n` differs from the cached list's length,
/// is a miss: ``ErrorCode/keyCacheMiss``, never a guess.
public struct KeyCacheReceiver: Sendable {
    private var cache: KeyListCache
    /// Misses answered.
    public private(set) var misses = 0

    /// Creates a receiver that keeps at most `capacityBytes` of key lists.
    private let hash: KeyListHash.Function

    /// Creates a receiver that keeps at most `capacityBytes` of key lists, checked against `hash`.
    public init(
        capacityBytes: Int = FilterSettings.defaultKeyCacheBytes,
        hash: @escaping KeyListHash.Function = { KeyListHash.hash($0) }
    ) {
        cache = KeyListCache(capacityBytes: capacityBytes)
        self.hash = hash
    }

    /// The message with the cached keys put back when it names a list by hash.
    public mutating func restore(_ message: Message) throws(WireError) -> Message {
        let header = message.header
        guard header.flags.contains(.keysCached) else { return message }
        guard let hash = header.keyCacheHash else {
            throw WireError(.missingField, field: "kh", "keysCached needs the hash of the key list")
        }
        guard let entry = cache.lookup(hash), entry.keys.count == 8 * Int(header.keyCount) else {
            misses += 1
            throw WireError(
                .keyCacheMiss, field: "kh",
                "no cached key list of \(header.keyCount) keys under hash \(String(hash, radix: 16)); resend the keys")
        }
        var result = message
        result.keys = entry.keys
        result.header.flags.remove(.keysCached)
        return result
    }

    /// Caches the keys of a validated message that asked for it; returns the hash to echo in the
    /// reply, or `nil` when the list was not cached (wrong hash, or larger than the whole budget).
    public mutating func store(_ message: Message) -> UInt64? {
        guard message.header.flags.contains(.cacheKeys), let hash = message.header.keyCacheHash,
            let keys = message.keys
        else { return nil }
        let actual = keys.withUnsafeBytes { self.hash($0) }
        guard actual == hash else { return nil }
        return cache.store(keys, hash: hash, acknowledged: true) ? hash : nil
    }

    /// Forgets every list (what a restart does).
    public mutating func reset() {
        cache.removeAll()
    }

    /// Bytes of key lists held.
    public var storedBytes: Int { cache.storedBytes }

    /// Lists evicted to stay within the budget.
    public var evictions: Int { cache.evictions }
}
