import Foundation
import ParameterServer

/// One key of 2^20 floats (4 MiB) per request, pushed and pulled, against the one-way libzmq
/// ceiling for a 4 MiB zero-copy frame (`zmq_thr thr tcp 4194304 zc`).
struct LargeValueScenario: Scenario {
    var name: String { "large-value" }
    var summary: String { "one key of 1M floats per request (GB/s) vs zmq_thr tcp 4 MiB zero-copy" }

    static let valueLength = 1 << 20

    func trials(_ options: BenchOptions) throws -> [Trial] {
        let rounds = options.quick ? 40 : 100
        let windows = options.quick ? [8] : [1, 8]
        let sets = KeySets(count: 1, valueLength: Self.valueLength, keySpace: 4)
        return windows.map { window in
            var reference: (@Sendable () async throws -> [Sample])?
            if let c = options.reference {
                reference = {
                    let rate = try c.zeroCopyThroughput(bytes: 4 * Self.valueLength, count: rounds * 2)
                    return [
                        Sample(metric: "push GB/s", value: rate, unit: "GB/s"),
                        Sample(metric: "pull GB/s", value: rate, unit: "GB/s"),
                    ]
                }
            }
            return Trial(
                scenario: name, shape: "1 key x \(Self.valueLength) floats inflight=\(window) tcp",
                parameters: ["keys": "1", "value_length": "\(Self.valueLength)", "inflight": "\(window)", "transport": "tcp"],
                requestSize: nil,
                measure: { try await Self.measure(sets: sets, rounds: rounds, window: window) },
                reference: reference)
        }
    }

    static func measure(sets: KeySets, rounds: Int, window: Int) async throws -> [Sample] {
        let table = TableSpec(name: "large", id: 1, valueLength: valueLength)
        let runs = try await BenchCluster.run(
            servers: 1, workers: 1, tables: [table], keySpace: KeyRange(0, 4), transport: .tcp,
            limits: WireLimits(maxValueLength: valueLength)
        ) { _, worker in
            try await PushPullRun.measure(
                worker: worker, table: table.id, sets: sets, rounds: rounds, window: window, checkReadBack: true,
                readInPlace: true)
        }
        let bytesPerKey = 4.0 * Double(valueLength)
        return PushPullRun.samples(runs).map { sample in
            guard sample.unit == "keys/s" else { return sample }
            return Sample(
                metric: sample.metric.replacingOccurrences(of: "keys/s", with: "GB/s"),
                value: sample.value * bytesPerKey / 1e9, unit: "GB/s")
        }
    }
}
