import Testing
import ZeroMQ

@testable import ParameterServer

/// A push of `keys` with value `Float(key)` per key, as a worker would send it.
func filterTestPush(_ keys: [UInt64], table: UInt32 = 0, requestID: UInt64 = 1) -> Message {
    Message(
        header: Header(kind: .push, sender: NodeID(rawValue: 3), requestID: requestID, table: table, keyCount: UInt32(keys.count), valueLength: 1),
        keys: Frame(array: keys), values: Frame(array: keys.map { Float($0) }))
}

/// The reply a server sends to `request`, echoing `hash`.
func filterTestAck(_ request: Header, hash: UInt64?) -> Header {
    var ack = Header(kind: .pushAck, sender: NodeID(rawValue: 1), requestID: request.requestID, table: request.table)
    ack.keyCacheHash = hash
    return ack
}

@Suite("Filters: key caching")
struct FilterKeyCacheTests {
    let keysA: [UInt64] = Array(stride(from: 10, to: 1010, by: 10))
    let keysB: [UInt64] = Array(stride(from: 5, to: 505, by: 5))

    @Test("A list goes out in full until acknowledged, then by hash; the receiver restores the exact keys")
    func hitAfterAcknowledgement() throws {
        var sender = KeyCacheSender()
        var receiver = KeyCacheReceiver()
        let push = filterTestPush(keysA)

        let first = sender.encode(push)
        #expect(first.header.flags.contains(.cacheKeys))
        #expect(first.header.keyCacheHash == KeyListHash.hash(keysA))
        #expect(first.keys == Frame(array: keysA))
        // Not acknowledged yet: a second request still carries the keys.
        #expect(sender.encode(push).keys != nil)

        let echoed = receiver.store(first)
        #expect(echoed == KeyListHash.hash(keysA))
        sender.observe(reply: filterTestAck(first.header, hash: echoed), requestHash: first.header.keyCacheHash)

        let second = sender.encode(push)
        #expect(second.keys == nil)
        #expect(second.header.flags.contains(.keysCached))
        #expect(!second.header.flags.contains(.cacheKeys))
        let encodedFrames = MessageCodec.encode(second)
        #expect(encodedFrames.count == 2)  // header and values: no keys frame
        let decoded = try MessageCodec.decodeEncoded(encodedFrames)
        let restored = try receiver.restore(decoded)
        #expect(restored.keys == Frame(array: keysA))
        #expect(!restored.header.flags.contains(.keysCached))
        try MessageCodec.validatePayload(restored)
    }

    @Test("A receiver that lost its cache (restart) answers keyCacheMiss; the sender resends the keys")
    func missAfterRestart() throws {
        var sender = KeyCacheSender()
        var receiver = KeyCacheReceiver()
        let push = filterTestPush(keysA)
        let first = sender.encode(push)
        sender.observe(reply: filterTestAck(first.header, hash: receiver.store(first)), requestHash: first.header.keyCacheHash)

        receiver.reset()
        let second = sender.encode(push)
        #expect(second.keys == nil)
        let error = #expect(throws: WireError.self) { try receiver.restore(second) }
        #expect(error?.code == .keyCacheMiss)
        #expect(error?.field == "kh")
        #expect(receiver.misses == 1)

        let miss = Header(kind: .push, sender: NodeID(rawValue: 3), requestID: 1).errorReply(from: NodeID(rawValue: 1), error!)
        sender.observe(reply: miss, requestHash: second.header.keyCacheHash)
        #expect(sender.misses == 1)
        let resent = sender.encode(push)
        #expect(resent.keys == Frame(array: keysA))
        #expect(resent.header.flags.contains(.cacheKeys))
        #expect(receiver.store(resent) == KeyListHash.hash(keysA))
    }

    @Test("Eviction keeps the receiver within its budget, least recently used first, and turns into a miss")
    func eviction() throws {
        // Room for one list of 100 keys (800 bytes), not two.
        var receiver = KeyCacheReceiver(capacityBytes: 1200)
        var sender = KeyCacheSender()
        let a = sender.encode(filterTestPush(keysA))
        let b = sender.encode(filterTestPush(keysB))
        #expect(receiver.store(a) != nil)
        #expect(receiver.store(b) != nil)
        #expect(receiver.evictions == 1)
        #expect(receiver.storedBytes == 800)

        var named = a
        named.keys = nil
        named.header.flags.remove(.cacheKeys)
        named.header.flags.insert(.keysCached)
        let error = #expect(throws: WireError.self) { try receiver.restore(named) }
        #expect(error?.code == .keyCacheMiss)

        var namedB = b
        namedB.keys = nil
        namedB.header.flags = [.keysCached]
        #expect(try receiver.restore(namedB).keys == Frame(array: keysB))
    }

    @Test("Two lists with the same hash: the sender sends the second in full, never by hash")
    func senderSideCollision() throws {
        let constant: KeyListHash.Function = { _ in 42 }
        var sender = KeyCacheSender(hash: constant)
        var receiver = KeyCacheReceiver(hash: constant)
        let first = sender.encode(filterTestPush(keysA))
        sender.observe(reply: filterTestAck(first.header, hash: receiver.store(first)), requestHash: 42)

        let other = sender.encode(filterTestPush(keysB))
        #expect(other.keys == Frame(array: keysB))
        #expect(other.header.keyCacheHash == nil)
        #expect(!other.header.flags.contains(.cacheKeys))
        #expect(sender.collisions == 1)
        // The first list still goes by hash and restores to itself.
        let again = sender.encode(filterTestPush(keysA))
        #expect(again.keys == nil)
        #expect(try receiver.restore(again).keys == Frame(array: keysA))
    }

    @Test("A cached list of another length under the named hash is a miss, not a wrong key list")
    func receiverSideLengthMismatch() throws {
        let constant: KeyListHash.Function = { _ in 7 }
        var receiver = KeyCacheReceiver(hash: constant)
        var sender = KeyCacheSender(hash: constant)
        #expect(receiver.store(sender.encode(filterTestPush(keysA))) == 7)
        var stale = filterTestPush(Array(keysA.prefix(50)))
        stale.keys = nil
        stale.header.flags = [.keysCached]
        stale.header.keyCacheHash = 7
        let error = #expect(throws: WireError.self) { try receiver.restore(stale) }
        #expect(error?.code == .keyCacheMiss)
    }

    @Test("A list offered under a hash it does not have is not cached and not echoed")
    func wrongHashIsNotCached() {
        var receiver = KeyCacheReceiver()
        var message = filterTestPush(keysA)
        message.header.flags.insert(.cacheKeys)
        message.header.keyCacheHash = KeyListHash.hash(keysB)
        #expect(receiver.store(message) == nil)
        #expect(receiver.storedBytes == 0)
    }

    @Test("Short key lists and range pulls are sent as they are")
    func smallAndRangeMessagesPass() {
        var sender = KeyCacheSender()
        let short = sender.encode(filterTestPush([1, 2, 3]))
        #expect(short.header.keyCacheHash == nil)
        let range = Message(header: Header(kind: .pull, table: 0, keyRange: KeyRange(0, 10), flags: .rangeRequest))
        #expect(sender.encode(range).header == range.header)
    }

    /// Known answers of the hash defined in docs/PROTOCOL.md section 13.1 ("Key caching"), computed
    /// outside Swift by an independent Python implementation of that definition (integers masked to
    /// 64 bits, `rotl64` as `((x << 29) | (x >> 35)) & (2^64 - 1)`), run once and pasted here. A change to
    /// the hash breaks foreign clients that compute it, so it must fail this test.
    static let hashKnownAnswers: [(keys: [UInt64], hash: UInt64)] = [
        ([], 0x9CA0_66F1_A4AB_2EEA),
        ([0], 0xCFF9_6FFB_E923_B3D3),
        ([1], 0x6A40_EF0B_AED7_AD8B),
        ([1, 2, 3], 0x6448_70A5_9F30_9C0C),
        ([1, 2, 4], 0x028D_6F70_0002_1CC3),
        ([2, 1], 0xE360_56B3_F0DB_18FE),
        ([.max], 0x8687_7A1D_1435_4656),
        ([0, 1 << 63, .max], 0xAE0B_1A93_E2BF_9D4C),
        ((0..<1000).map { $0 * 7919 }, 0x7D1E_E651_612D_3141),
    ]

    @Test("The key-list hash is the documented function (known answers from an independent implementation)")
    func hashKnownAnswers() {
        for (keys, expected) in Self.hashKnownAnswers {
            #expect(KeyListHash.hash(keys) == expected, "\(keys.count) keys starting \(keys.prefix(3))")
        }
    }

    @Test("The hash reads keys at any alignment, as the keys frame gives them")
    func hashOfUnalignedBytes() {
        let keys: [UInt64] = [1, 2, 3]
        let littleEndian = keys.flatMap { key in (0..<8).map { UInt8(truncatingIfNeeded: key >> ($0 * 8)) } }
        let shifted = [0xAB] + littleEndian
        let hash = shifted.withUnsafeBytes { KeyListHash.hash(UnsafeRawBufferPointer(rebasing: $0.dropFirst())) }
        #expect(hash == 0x6448_70A5_9F30_9C0C)
    }
}
