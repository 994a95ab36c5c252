import Testing
import ZeroMQ

@testable import ParameterServer

/// Every combination of filters, through a real ZeroMQ DEALER/ROUTER pair on loopback TCP.
@Suite("Filters: every combination through ZeroMQ")
struct FilterChainTransportTests {
    static let worker = NodeID(rawValue: 7)
    static let server = NodeID(rawValue: 1)
    static let keys: [UInt64] = (0..<2000).map { UInt64($0) * 17 + 3 }
    /// Weights of the latest pull: every other key is zero (so KKT has entries to drop).
    static let weights: [Float] = (0..<2000).map { $0 % 2 == 0 ? 0 : Float($0) * 0.001 }

    /// A gradient that is mostly small (significantly-modified and KKT drop those) and compressible.
    static func gradient(round: Int) -> [Float] {
        (0..<2000).map { index in index % 5 == 0 ? Float(index % 40) * 0.25 + Float(round) : 0.001 }
    }

    static var combinations: [FilterSettings] {
        (0..<32).map { bits in
            FilterSettings(
                keyCaching: bits & 1 != 0, compression: bits & 2 != 0,
                significantlyModifiedThreshold: bits & 4 != 0 ? 0.01 : nil, kktLambda: bits & 8 != 0 ? 0.1 : nil,
                quantization: bits & 16 != 0)
        }
    }

    /// Values as the receiver should see them: exact, or rounded to half precision.
    static func expected(_ frame: Frame?, quantized: Bool) -> [Float] {
        let values = frame.map { ValueFrame($0).elements } ?? []
        return quantized ? values.map { Float(Float16($0)) } : values
    }

    @Test("Push and pull round trips with every filter combination arrive as the sender's filtered message", arguments: combinations)
    func roundTrip(settings: FilterSettings) throws {
        var workerChain = FilterChain(tables: [(id: 0, filters: settings, valueLength: 1)])
        var serverChain = FilterChain(tables: [(id: 0, filters: settings, valueLength: 1)])
        let context = try Context()
        defer { try? context.terminate() }
        let router = try Socket(.router, context: context)
        let dealer = try Socket(.dealer, context: context)
        try router.set(.linger, to: 0)
        try dealer.set(.linger, to: 0)
        try router.set(.receiveTimeout, to: 10_000)
        try dealer.set(.receiveTimeout, to: 10_000)
        try dealer.connect(to: try router.bind(to: "tcp://127.0.0.1:0"))

        var wireBytes = 0
        for round in 0..<3 {
            workerChain.observePull(table: 0, keys: Self.keys, weights: Self.weights)
            let push = Message(
                header: Header(kind: .push, sender: Self.worker, requestID: UInt64(2 * round + 1), table: 0, keyCount: UInt32(Self.keys.count), valueLength: 1),
                keys: Frame(array: Self.keys), values: Frame(array: Self.gradient(round: round)))
            let filtered = workerChain.filterPush(push)
            let encoded = workerChain.encodeRequest(filtered, to: Self.server)
            if settings.keyCaching && !settings.filtersValues && round > 0 {
                #expect(encoded.keys == nil, "round \(round) should name its keys by hash")
            }
            let sent = MessageCodec.encode(encoded)
            wireBytes += sent.reduce(0) { $0 + $1.count }
            #expect(try dealer.send(sent))

            let frames = try #require(try router.receiveMultipart())
            let identity = frames[0]
            let decoded = try serverChain.decodeRequest(
                try MessageCodec.decodeEncoded(frames.dropFirst()), from: Self.worker)
            #expect(decoded.message.keys == filtered.keys)
            #expect(ValueFrame(decoded.message.values!).elements == Self.expected(filtered.values, quantized: settings.quantization))
            #expect(decoded.message.header.keyCount == filtered.header.keyCount)
            #expect(decoded.message.header.isFilterEncoded == false)

            let ack = Message(header: Header(kind: .pushAck, sender: Self.server, requestID: decoded.message.header.requestID, table: 0))
            let reply = serverChain.encodeReply(ack, to: decoded.message.header, cachedKeyHash: decoded.cachedKeyHash)
            #expect(try router.send([identity] + MessageCodec.encode(reply)))
            let replyFrames = try #require(try dealer.receiveMultipart())
            let ackBack = try workerChain.decodeReply(
                try MessageCodec.decodeEncoded(replyFrames), from: Self.server, requestHash: encoded.header.keyCacheHash)
            #expect(ackBack.header.kind == .pushAck)

            // A pull of the same keys and its reply.
            let pull = Message(
                header: Header(kind: .pull, sender: Self.worker, requestID: UInt64(2 * round + 2), table: 0, keyCount: UInt32(Self.keys.count), valueLength: 1),
                keys: Frame(array: Self.keys))
            let pullEncoded = workerChain.encodeRequest(pull, to: Self.server)
            #expect(try dealer.send(MessageCodec.encode(pullEncoded)))
            let pullFrames = try #require(try router.receiveMultipart())
            let pullDecoded = try serverChain.decodeRequest(try MessageCodec.decodeEncoded(pullFrames.dropFirst()), from: Self.worker)
            #expect(pullDecoded.message.keys == Frame(array: Self.keys))
            let answer = Message(
                header: Header(kind: .pullReply, sender: Self.server, requestID: pull.header.requestID, table: 0, keyCount: UInt32(Self.keys.count), valueLength: 1),
                values: Frame(array: Self.weights))
            let answerEncoded = serverChain.encodeReply(answer, to: pullDecoded.message.header, cachedKeyHash: pullDecoded.cachedKeyHash)
            #expect(try router.send([pullFrames[0]] + MessageCodec.encode(answerEncoded)))
            let answerFrames = try #require(try dealer.receiveMultipart())
            let answerBack = try workerChain.decodeReply(
                try MessageCodec.decodeEncoded(answerFrames), from: Self.server, requestHash: pullEncoded.header.keyCacheHash)
            #expect(ValueFrame(answerBack.values!).elements == Self.expected(Frame(array: Self.weights), quantized: settings.quantization))
        }
        if settings.isEmpty {
            #expect(workerChain.report.sent.isEmpty)
        } else if settings.keyCaching || settings.compression {
            // The lossless filters alone already shrink what goes out.
            let plain = 3 * (8 * Self.keys.count + 4 * Self.keys.count)
            #expect(wireBytes < plain)
        }
    }

    @Test("A server that lost its key cache answers keyCacheMiss; the resent request carries the keys and succeeds")
    func missAndResend() throws {
        let settings = FilterSettings(keyCaching: true, compression: true)
        var workerChain = FilterChain(tables: [(id: 0, filters: settings, valueLength: 1)])
        var serverChain = FilterChain(tables: [(id: 0, filters: settings, valueLength: 1)])
        let push = Message(
            header: Header(kind: .push, sender: Self.worker, requestID: 1, table: 0, keyCount: UInt32(Self.keys.count), valueLength: 1),
            keys: Frame(array: Self.keys), values: Frame(array: Self.gradient(round: 0)))

        let first = workerChain.encodeRequest(push, to: Self.server)
        let accepted = try serverChain.decodeRequest(try MessageCodec.decodeEncoded(MessageCodec.encode(first)), from: Self.worker)
        let ack = serverChain.encodeReply(
            Message(header: Header(kind: .pushAck, sender: Self.server, requestID: 1, table: 0)), to: accepted.message.header,
            cachedKeyHash: accepted.cachedKeyHash)
        _ = try workerChain.decodeReply(ack, from: Self.server, requestHash: first.header.keyCacheHash)

        // The server restarts: a fresh chain holds nothing.
        serverChain = FilterChain(tables: [(id: 0, filters: settings, valueLength: 1)])
        let second = workerChain.encodeRequest(push, to: Self.server)
        #expect(second.keys == nil)
        let error = #expect(throws: WireError.self) {
            try serverChain.decodeRequest(try MessageCodec.decodeEncoded(MessageCodec.encode(second)), from: Self.worker)
        }
        #expect(error?.code == .keyCacheMiss)
        let missReply = Message(header: second.header.errorReply(from: Self.server, error!))
        _ = try workerChain.decodeReply(missReply, from: Self.server, requestHash: second.header.keyCacheHash)
        #expect(workerChain.report.keyCacheMisses == 1)

        let resent = workerChain.encodeRequest(push, to: Self.server, forceKeys: true)
        #expect(resent.header.flags.contains(.cacheKeys))
        let recovered = try serverChain.decodeRequest(try MessageCodec.decodeEncoded(MessageCodec.encode(resent)), from: Self.worker)
        #expect(recovered.message.keys == Frame(array: Self.keys))
        #expect(recovered.cachedKeyHash == KeyListHash.hash(Self.keys))
    }

    @Test("A table without key caching never caches and treats a named list as a miss")
    func keyCachingOptIn() throws {
        var serverChain = FilterChain(tables: [(id: 0, filters: FilterSettings(compression: true), valueLength: 1)])
        var sender = KeyCacheSender()
        let push = Message(
            header: Header(kind: .push, sender: Self.worker, requestID: 1, table: 0, keyCount: UInt32(Self.keys.count), valueLength: 1),
            keys: Frame(array: Self.keys), values: Frame(array: Self.gradient(round: 0)))
        let offered = sender.encode(push)
        let decoded = try serverChain.decodeRequest(offered, from: Self.worker)
        #expect(decoded.cachedKeyHash == nil)
        var named = offered
        named.keys = nil
        named.header.flags = [.keysCached]
        let error = #expect(throws: WireError.self) { try serverChain.decodeRequest(named, from: Self.worker) }
        #expect(error?.code == .keyCacheMiss)
    }
}
