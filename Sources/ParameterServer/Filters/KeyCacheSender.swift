import ZeroMQ

/// The sending half of key caching, for one peer and table: replaces a keys frame by its hash once
/// the receiver has confirmed it holds the list.
///
/// A list goes out in full with ``MessageFlags/cacheKeys`` and `kh` until a reply echoes `kh`;
/// after that only the hash goes out (``MessageFlags/keysCached``). A ``ErrorCode/keyCacheMiss``
/// reply un-confirms the hash, so the caller's resend (``encode(_:forceKeys:)``) carries the keys
/// again. Two different lists with the same hash are told apart by comparing them: the newer one
/// is sent in full and never by hash, so a receiver can never pick the wrong list.
public struct KeyCacheSender: Sendable {
    private var cache: KeyListCache
    /// Lists smaller than this many keys are always sent in full: the hash would save too little.
    public let minimumKeys: Int
    /// Key lists sent in full because their hash named another cached list.
    public private(set) var collisions = 0
    /// Misses the receiver reported.
    public private(set) var misses = 0

    /// Creates a sender that remembers at most `capacityBytes` of key lists.
    private let hash: KeyListHash.Function

    /// Creates a sender that remembers at most `capacityBytes` of key lists; `hash` must be the
    /// receiver's (``KeyListHash`` on the wire).
    public init(
        capacityBytes: Int = FilterSettings.defaultKeyCacheBytes, minimumKeys: Int = 4,
        hash: @escaping KeyListHash.Function = { KeyListHash.hash($0) }
    ) {
        cache = KeyListCache(capacityBytes: capacityBytes)
        self.minimumKeys = minimumKeys
        self.hash = hash
    }

    /// The message with its keys frame replaced by a hash when the receiver holds the list, or
    /// marked for caching when it does not yet; `forceKeys` always sends the keys (a resend after a miss).
    public mutating func encode(_ message: Message, forceKeys: Bool = false) -> Message {
        let header = message.header
        guard header.kind == .push || header.kind == .pull, !header.flags.contains(.rangeRequest),
            !header.flags.contains(.keysCached), header.compressedSizes == nil, let keys = message.keys,
            keys.count / 8 >= minimumKeys
        else { return message }
        let hash = keys.withUnsafeBytes { self.hash($0) }
        var result = message
        if let entry = cache.lookup(hash) {
            guard entry.keys == keys else {
                collisions += 1
                return message
            }
            if entry.acknowledged && !forceKeys {
                result.keys = nil
                result.header.flags.insert(.keysCached)
                result.header.keyCacheHash = hash
                return result
            }
        } else {
            _ = cache.store(keys, hash: hash, acknowledged: false)
        }
        result.header.flags.insert(.cacheKeys)
        result.header.keyCacheHash = hash
        return result
    }

    /// Notes a reply: an echoed `kh` confirms the receiver holds the list, a
    /// ``ErrorCode/keyCacheMiss`` for `requestHash` says it does not.
    public mutating func observe(reply: Header, requestHash: UInt64?) {
        if reply.kind == .error, reply.errorCode == .keyCacheMiss, let requestHash {
            misses += 1
            cache.setAcknowledged(requestHash, false)
        } else if let echoed = reply.keyCacheHash {
            cache.setAcknowledged(echoed, true)
        }
    }

    /// Forgets every list, e.g. when the peer restarted.
    public mutating func reset() {
        cache.removeAll()
    }

    /// Bytes of key lists remembered.
    public var storedBytes: Int { cache.storedBytes }
}
