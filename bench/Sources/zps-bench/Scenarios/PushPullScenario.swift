import ParameterServer

/// Push and pull keys/s and round trips against keys per request, requests in flight, servers,
/// workers, value length and transport; each one-server, one-worker, scalar, tcp shape is run beside
/// `ps_bench net dense N window` (two processes) and gets a ratio to it.
struct PushPullScenario: Scenario {
    var name: String { "push-pull" }
    var summary: String { "push/pull keys/s and p50/p99 round trips vs keys per request, in flight, servers, workers, value length, tcp/ipc" }

    struct Shape: Hashable {
        var keys: Int
        var window: Int
        var servers = 1
        var workers = 1
        var valueLength = 1
        var transport = BenchTransport.tcp
        /// Each node kept on a CPU of its own (`--pin`).
        var pinned = false
        /// How long node I/O threads poll before they block (`--busy-poll`).
        var busyPoll: Duration?

        var label: String {
            "N=\(keys) inflight=\(window) s=\(servers) w=\(workers) vl=\(valueLength) \(transport)" + (pinned ? " pinned" : "")
                + (busyPoll.map { " busy_poll=\(DurationText.format($0))" } ?? "")
        }
        /// The shape `ps_bench` measures: one server, one worker, one float per key, tcp.
        var matchesReference: Bool { servers == 1 && workers == 1 && valueLength == 1 && transport == .tcp }
    }

    func shapes(_ options: BenchOptions) -> [Shape] {
        let sizes = options.keyCounts ?? (options.quick ? [1_000, 100_000] : [1_000, 10_000, 100_000, 1_000_000])
        let windows = options.quick ? [1, 8] : [1, 8, 32]
        var shapes: [Shape] = []
        for keys in sizes { for window in windows { shapes.append(Shape(keys: keys, window: window)) } }
        if !options.quick {
            let scaling = sizes.contains(100_000) ? 100_000 : sizes[sizes.count / 2]
            for servers in [2, 4] { shapes.append(Shape(keys: scaling, window: 8, servers: servers)) }
            for workers in [2, 4] { shapes.append(Shape(keys: scaling, window: 8, workers: workers)) }
            for keys in sizes where keys <= 100_000 && keys >= 10_000 {
                shapes.append(Shape(keys: keys, window: 8, valueLength: 16))
            }
        }
        for keys in sizes where keys == 1_000 || keys == 100_000 {
            for window in [1, 8] { shapes.append(Shape(keys: keys, window: window, transport: .ipc)) }
        }
        let transports = options.transports ?? BenchTransport.allCases
        return shapes.filter { shape in
            transports.contains(shape.transport) && (options.windows?.contains(shape.window) ?? true)
                && (!options.referenceShapesOnly || shape.matchesReference)
        }.map { shape in
            var shape = shape
            shape.pinned = options.pinned
            shape.busyPoll = options.busyPoll
            return shape
        }
    }

    func trials(_ options: BenchOptions) throws -> [Trial] {
        shapes(options).map { shape in
            let rounds = Self.rounds(keys: shape.keys, options: options)
            let sets = KeySets(count: shape.keys, valueLength: shape.valueLength)
            var reference: (@Sendable () async throws -> [Sample])?
            if shape.matchesReference, let c = options.reference {
                reference = { try c.parameterServerRound(keys: shape.keys, window: shape.window, rounds: rounds) }
            }
            return Trial(
                scenario: name, shape: shape.label,
                parameters: [
                    "keys": "\(shape.keys)", "inflight": "\(shape.window)", "servers": "\(shape.servers)",
                    "workers": "\(shape.workers)", "value_length": "\(shape.valueLength)",
                    "transport": shape.transport.rawValue, "rounds": "\(rounds)", "pinned": "\(shape.pinned)",
                    "busy_poll": shape.busyPoll.map(DurationText.format) ?? "default",
                ],
                requestSize: shape.matchesReference ? shape.keys : nil,
                measure: { try await Self.measure(shape, sets: sets, rounds: rounds) },
                reference: reference)
        }
    }

    /// Requests per phase: about `keysPerPhase` keys, at least 100 (so that a phase of large requests
    /// is more than its start-up) and at most 6,000.
    static func rounds(keys: Int, options: BenchOptions) -> Int {
        min(6_000, max(100, options.keysPerPhase / keys))
    }

    static func measure(_ shape: Shape, sets: KeySets, rounds: Int) async throws -> [Sample] {
        let table = TableSpec(name: "bench", id: 1, valueLength: shape.valueLength)
        let runs = try await BenchCluster.run(
            servers: shape.servers, workers: shape.workers, tables: [table],
            keySpace: KeyRange(0, KeySets.keySpace), transport: shape.transport, pinned: shape.pinned,
            busyPoll: shape.busyPoll
        ) { _, worker in
            try await PushPullRun.measure(
                worker: worker, table: table.id, sets: sets, rounds: rounds, window: shape.window,
                checkReadBack: shape.workers == 1)
        }
        return PushPullRun.samples(runs)
    }
}
