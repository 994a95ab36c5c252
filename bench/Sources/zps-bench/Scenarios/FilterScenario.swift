import Foundation
import ParameterServer
import ZeroMQ

/// The communication filters on a repeated-minibatch workload: a pool of minibatches with
/// Zipf-distributed keys (as hashed click features are), each epoch a pull of the batch's weights
/// and a push of its gradient, between one worker and one server over a real ZeroMQ socket pair
/// on loopback TCP, every message through the worker's and the server's ``FilterChain``.
///
/// Weights are those of an L1 model (70 % exactly zero), gradients mostly small, so the KKT and
/// significantly-modified filters have entries to drop. Reports bytes on the wire per epoch
/// (all frames, both directions), pushed keys per epoch and time per epoch.
struct FilterScenario: Scenario {
    var name: String { "filters" }
    var summary: String { "bytes on the wire, pushed keys and time per epoch with each communication filter off and on" }

    static let configurations: [(String, FilterSettings)] = [
        ("none", FilterSettings()),
        ("key_caching", FilterSettings(keyCaching: true)),
        ("compression", FilterSettings(compression: true)),
        ("key_caching+compression", FilterSettings(keyCaching: true, compression: true)),
        ("quantization", FilterSettings(quantization: true)),
        ("kkt", FilterSettings(kktLambda: 0.05)),
        ("significantly_modified", FilterSettings(significantlyModifiedThreshold: 0.05)),
        ("all", FilterSettings(keyCaching: true, compression: true, significantlyModifiedThreshold: 0.05, kktLambda: 0.05, quantization: true)),
    ]

    func trials(_ options: BenchOptions) throws -> [Trial] {
        let batchKeys = options.keyCounts?.first ?? 10_000
        let epochs = options.quick ? 3 : 10
        let workload = FilterWorkload(batches: 20, batchKeys: batchKeys)
        return Self.configurations.map { label, settings in
            Trial(
                scenario: name, shape: "filters=\(label) batch=\(batchKeys) zipf",
                parameters: ["filters": label, "batch_keys": "\(batchKeys)", "batches": "20", "epochs": "\(epochs)"],
                requestSize: nil,
                measure: { try Self.measure(workload, settings: settings, epochs: epochs) },
                reference: nil)
        }
    }

    static func measure(_ workload: FilterWorkload, settings: FilterSettings, epochs: Int) throws -> [Sample] {
        let workerID = FilterLink.workerID
        let serverID = FilterLink.serverID
        let context = try Context()
        defer { try? context.terminate() }
        let link = try FilterLink(context: context, settings: settings)
        var pushedKeys = 0
        var requestID: UInt64 = 0

        let start = ContinuousClock.now
        for _ in 0..<epochs {
            for batch in workload.keys.indices {
                let keys = workload.keys[batch]
                requestID += 1
                let pull = Message(
                    header: Header(kind: .pull, sender: workerID, requestID: requestID, table: 0, keyCount: UInt32(keys.count), valueLength: 1),
                    keys: Frame(array: keys))
                try link.exchange(pull) { request in
                    Message(
                        header: Header(kind: .pullReply, sender: serverID, requestID: request.header.requestID, table: 0, keyCount: request.header.keyCount, valueLength: 1),
                        values: Frame(array: workload.weights[batch]))
                }
                link.worker.observePull(table: 0, keys: keys, weights: workload.weights[batch])
                requestID += 1
                let push = link.worker.filterPush(Message(
                    header: Header(kind: .push, sender: workerID, requestID: requestID, table: 0, keyCount: UInt32(keys.count), valueLength: 1),
                    keys: Frame(array: keys), values: Frame(array: workload.gradients[batch])))
                pushedKeys += Int(push.header.keyCount)
                try link.exchange(push) { request in
                    Message(header: Header(kind: .pushAck, sender: serverID, requestID: request.header.requestID, table: 0))
                }
            }
        }
        let elapsed = (ContinuousClock.now - start).seconds
        return [
            Sample(metric: "wire bytes/epoch", value: Double(link.bytes) / Double(epochs), unit: "B"),
            Sample(metric: "pushed keys/epoch", value: Double(pushedKeys) / Double(epochs), unit: "keys"),
            Sample(metric: "epoch ms", value: 1000 * elapsed / Double(epochs), unit: "ms"),
        ]
    }
}

/// One worker and one server with their filter chains, joined by a DEALER/ROUTER pair; counts
/// every byte of every frame in both directions.
final class FilterLink {
    static let workerID = NodeID(rawValue: 2)
    static let serverID = NodeID(rawValue: 1)
    let router: Socket
    let dealer: Socket
    var worker: FilterChain
    var server: FilterChain
    var bytes = 0

    init(context: Context, settings: FilterSettings) throws {
        router = try Socket(.router, context: context)
        dealer = try Socket(.dealer, context: context)
        try router.set(.linger, to: 0)
        try dealer.set(.linger, to: 0)
        try dealer.connect(to: try router.bind(to: "tcp://127.0.0.1:0"))
        worker = FilterChain(tables: [(id: 0, filters: settings, valueLength: 1)])
        server = FilterChain(tables: [(id: 0, filters: settings, valueLength: 1)])
    }

    /// Sends `request` through the filters, lets the server answer with `reply`, and resends with
    /// the keys after a key-cache miss.
    func exchange(_ request: Message, reply: (Message) -> Message) throws {
        var encoded = worker.encodeRequest(request, to: Self.serverID)
        while true {
            let frames = MessageCodec.encode(encoded)
            bytes += frames.reduce(0) { $0 + $1.count }
            _ = try dealer.send(frames)
            guard let received = try router.receiveMultipart() else { throw BenchError("no request arrived") }
            let answer: Message
            do {
                let decoded = try server.decodeRequest(try MessageCodec.decodeEncoded(received.dropFirst()), from: Self.workerID)
                answer = server.encodeReply(reply(decoded.message), to: decoded.message.header, cachedKeyHash: decoded.cachedKeyHash)
            } catch {
                answer = Message(header: encoded.header.errorReply(from: Self.serverID, error))
            }
            let replyFrames = MessageCodec.encode(answer)
            bytes += replyFrames.reduce(0) { $0 + $1.count }
            _ = try router.send([received[0]] + replyFrames)
            guard let back = try dealer.receiveMultipart() else { throw BenchError("no reply arrived") }
            let result = try worker.decodeReply(
                try MessageCodec.decodeEncoded(back), from: Self.serverID, requestHash: encoded.header.keyCacheHash)
            guard result.header.errorCode == .keyCacheMiss else { return }
            encoded = worker.encodeRequest(request, to: Self.serverID, forceKeys: true)
        }
    }
}

/// Minibatches of sorted unique keys drawn from a Zipf(1.1) distribution over 2^22 keys, with the
/// weights an L1 model would return for them and a gradient per batch. Seeded, so every run sees
/// the same data.
struct FilterWorkload: Sendable {
    var keys: [[UInt64]] = []
    var weights: [[Float]] = []
    var gradients: [[Float]] = []

    init(batches: Int, batchKeys: Int) {
        var random = SplitMix64(seed: 42)
        let keySpace = 1 << 22
        // Inverse-CDF sampling of a Zipf law over ranks, then a fixed permutation of ranks to keys.
        var cumulative = [Double](repeating: 0, count: keySpace)
        var total = 0.0
        for rank in 0..<keySpace {
            total += 1 / pow(Double(rank + 1), 1.1)
            cumulative[rank] = total
        }
        for _ in 0..<batches {
            var set = Set<UInt64>()
            while set.count < batchKeys {
                let target = random.nextUnit() * total
                var low = 0
                var high = keySpace - 1
                while low < high {
                    let mid = (low + high) / 2
                    if cumulative[mid] < target { low = mid + 1 } else { high = mid }
                }
                set.insert((UInt64(low) &* 0x9E37_79B9_7F4A_7C15) >> 40)
            }
            let sorted = set.sorted()
            keys.append(sorted)
            weights.append(sorted.map { key in key % 10 < 7 ? 0 : Float(Int(key % 13) - 6) * 0.01 })
            gradients.append(sorted.map { _ in
                let magnitude = random.nextUnit()
                return Float((magnitude * magnitude * magnitude) * (random.nextUnit() < 0.5 ? -0.4 : 0.4))
            })
        }
    }
}


