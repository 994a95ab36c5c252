import ParameterServer

/// The server's apply (add) and gather loops on a dense ``RangeStore`` of 2^24 keys, without the
/// network, against `ps_bench local dense N`.
struct ApplyLoopScenario: Scenario {
    var name: String { "apply" }
    var summary: String { "RangeStore add and gather loops alone (keys/s) vs ps_bench local dense N" }

    func trials(_ options: BenchOptions) throws -> [Trial] {
        let sizes = options.keyCounts ?? (options.quick ? [100_000] : [1_000, 100_000, 1_000_000])
        return sizes.map { keys in
            let sets = KeySets(count: keys)
            var reference: (@Sendable () async throws -> [Sample])?
            if let c = options.reference { reference = { try c.storeLoops(keys: keys) } }
            return Trial(
                scenario: name, shape: "dense N=\(keys)", parameters: ["keys": "\(keys)", "layout": "dense"],
                requestSize: nil,
                measure: { try Self.measure(sets: sets) },
                reference: reference)
        }
    }

    static func measure(sets: KeySets) throws -> [Sample] {
        let updater = try UpdaterRegistry.builtIn.make("add")
        let store = RangeStore(range: KeyRange(0, KeySets.keySpace), valueLength: 1, updater: updater)
        let keys = sets.keys[0].count
        let repetitions = max(8, 40_000_000 / keys)
        func apply(_ round: Int) {
            let set = round % sets.keys.count
            sets.keys[set].withUnsafeBytes { keyBytes in
                sets.values[set].withUnsafeBytes { valueBytes in
                    store.push(keys: keyBytes.baseAddress!, count: keys, values: valueBytes.baseAddress!, updater: updater)
                }
            }
        }
        for set in sets.keys.indices { apply(set) }
        let applyStart = ContinuousClock.now
        for round in 0..<repetitions { apply(round) }
        let applyEnd = ContinuousClock.now
        var output = [Float](repeating: 0, count: keys)
        var checksum: Float = 0
        for round in 0..<repetitions {
            let set = round % sets.keys.count
            sets.keys[set].withUnsafeBytes { keyBytes in
                output.withUnsafeMutableBytes { out in store.pull(keys: keyBytes.baseAddress!, count: keys, into: out.baseAddress!) }
            }
            checksum += output[round % keys]
        }
        let gatherEnd = ContinuousClock.now
        guard checksum.isFinite else { throw BenchError("the gather loop read a non-finite value") }
        return [
            Sample(metric: "apply keys/s", value: Double(repetitions * keys) / (applyEnd - applyStart).seconds, unit: "keys/s"),
            Sample(metric: "gather keys/s", value: Double(repetitions * keys) / (gatherEnd - applyEnd).seconds, unit: "keys/s"),
        ]
    }
}
