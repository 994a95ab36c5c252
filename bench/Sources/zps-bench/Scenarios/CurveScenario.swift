import ParameterServer
import Synchronization
import ZeroMQ

/// What CurveZMQ costs: push/pull shapes run with every node under CURVE, each beside the same shape
/// in plaintext (the trial's reference, so its ratio is CURVE / plaintext from interleaved runs), and
/// raw libzmq 1 MiB frames with and without CURVE (`zmq_info` of ../shared/limits) for the floor.
struct CurveScenario: Scenario {
    var name: String { "curve" }
    var summary: String { "push/pull keys/s under CurveZMQ, as a ratio to plaintext in the same run; raw libzmq CURVE vs plaintext" }

    struct Shape {
        var keys: Int
        var window: Int
        var label: String { "N=\(keys) inflight=\(window) s=1 w=1 vl=1 tcp" }
    }

    func shapes(_ options: BenchOptions) -> [Shape] {
        // 87,381 keys are 1 MiB of pushed keys and values (12 bytes a key), the frame size of the C figure.
        let all = [Shape(keys: 1_000, window: 1), Shape(keys: 1_000, window: 8), Shape(keys: 87_381, window: 8), Shape(keys: 1_000_000, window: 1)]
        let sizes = options.keyCounts
        return all.filter { shape in
            (sizes?.contains(shape.keys) ?? true) && (options.windows?.contains(shape.window) ?? true)
                && (!options.quick || shape.keys != 1_000_000)
        }
    }

    func trials(_ options: BenchOptions) throws -> [Trial] {
        let cluster = try CurveKeyPair.generate()
        let curve = TransportSecurity.curve(CurveSettings(clusterKeyPair: cluster))
        var trials = shapes(options).map { shape in
            let rounds = PushPullScenario.rounds(keys: shape.keys, options: options)
            let sets = KeySets(count: shape.keys, valueLength: 1)
            return Trial(
                scenario: name, shape: shape.label + " curve",
                parameters: [
                    "keys": "\(shape.keys)", "inflight": "\(shape.window)", "security": "curve", "reference": "plaintext",
                    "rounds": "\(rounds)",
                ],
                requestSize: nil,
                measure: { try await Self.measure(shape, sets: sets, rounds: rounds, security: curve) },
                reference: { try await Self.measure(shape, sets: sets, rounds: rounds, security: .plaintext(beyondLoopback: true)) })
        }
        if let c = options.reference {
            // The C figures: CURVE as the measurement, plaintext as its reference.
            let figures = CurveFigures()
            trials.append(Trial(
                scenario: name, shape: "libzmq 1 MiB frames tcp curve (zmq_info)",
                parameters: ["bytes": "1048576", "security": "curve", "reference": "plaintext", "program": "zmq_info"],
                requestSize: nil,
                measure: {
                    let (plaintext, curve) = try c.curveThroughput()
                    figures.plaintext.withLock { $0 = plaintext }
                    return [Sample(metric: "GB/s", value: curve, unit: "GB/s")]
                },
                reference: {
                    let plaintext = figures.plaintext.withLock { $0 }
                    return [Sample(metric: "GB/s", value: plaintext, unit: "GB/s")]
                }))
        }
        return trials
    }

    static func measure(_ shape: Shape, sets: KeySets, rounds: Int, security: TransportSecurity) async throws -> [Sample] {
        let table = TableSpec(name: "bench", id: 1, valueLength: 1)
        let runs = try await BenchCluster.run(
            servers: 1, workers: 1, tables: [table], keySpace: KeyRange(0, KeySets.keySpace), transport: .tcp,
            security: security
        ) { _, worker in
            try await PushPullRun.measure(
                worker: worker, table: table.id, sets: sets, rounds: rounds, window: shape.window, checkReadBack: true)
        }
        return PushPullRun.samples(runs)
    }
}

/// The plaintext figure of the `zmq_info` run whose CURVE figure a trial just reported: one run
/// measures both, and the runner asks for the reference right after the measurement.
private final class CurveFigures: Sendable {
    let plaintext = Mutex<Double>(0)
}
