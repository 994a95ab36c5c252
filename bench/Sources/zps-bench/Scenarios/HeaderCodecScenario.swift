import ParameterServer

/// The header codec alone: encodes and decodes per second of the header a worker's push carries
/// (version, kind, sender, request id, table, timestamp, key count, value length, table version),
/// against `msgpack_bench`'s 10-field header encoded and decoded with msgpack-c.
struct HeaderCodecScenario: Scenario {
    var name: String { "header" }
    var summary: String { "header encode and decode alone (headers/s) vs msgpack_bench's 10-field header" }

    func trials(_ options: BenchOptions) throws -> [Trial] {
        var reference: (@Sendable () async throws -> [Sample])?
        if let c = options.reference { reference = { try c.headerCodec() } }
        return [
            Trial(
                scenario: name, shape: "push header", parameters: ["header": "push"], requestSize: nil,
                measure: { try Self.measure(rounds: options.quick ? 200_000 : 1_000_000) },
                reference: reference)
        ]
    }

    static func measure(rounds: Int) throws -> [Sample] {
        var header = Header(
            kind: .push, sender: NodeID(5), requestID: 1, table: 1, timestamp: 1, keyCount: 1000, valueLength: 1)
        header.tableVersion = 3
        // Encoding: each round a new request id and timestamp, as a worker's requests have.
        var encodedBytes = 0
        let encodeStart = ContinuousClock.now
        for round in 0..<rounds {
            header.requestID = UInt64(round) &+ 1
            header.timestamp = Int64(round) &+ 1
            encodedBytes &+= HeaderCodec.withEncoded(header) { $0.count }
        }
        let encodeEnd = ContinuousClock.now
        // Decoding: a few encoded headers in turn, each checked against what was encoded.
        let samples = (0..<16).map { index in
            var sample = header
            sample.requestID = UInt64(1_000_000 + index)
            sample.timestamp = Int64(index) << 20
            return (sample, HeaderCodec.withEncoded(sample) { [UInt8]($0) })
        }
        var requestIDs: UInt64 = 0
        let decodeStart = ContinuousClock.now
        for round in 0..<rounds {
            let decoded = try samples[round & 15].1.withUnsafeBytes { try HeaderCodec.decode($0) }
            requestIDs &+= decoded.requestID
        }
        let decodeEnd = ContinuousClock.now
        let expected = samples.reduce(UInt64(0)) { $0 &+ $1.0.requestID } &* UInt64(rounds / 16)
            &+ samples.prefix(rounds % 16).reduce(UInt64(0)) { $0 &+ $1.0.requestID }
        guard requestIDs == expected, try samples.allSatisfy({ try HeaderCodec.decode($0.1) == $0.0 }) else {
            throw BenchError("the header decoder returned other headers than were encoded")
        }
        return [
            Sample(metric: "encode headers/s", value: Double(rounds) / (encodeEnd - encodeStart).seconds, unit: "ops/s"),
            Sample(metric: "decode headers/s", value: Double(rounds) / (decodeEnd - decodeStart).seconds, unit: "ops/s"),
            Sample(metric: "header bytes", value: Double(encodedBytes) / Double(rounds), unit: "B"),
        ]
    }
}
