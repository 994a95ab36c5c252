import ArgumentParser
import Foundation
import ParameterServer

/// zps-bench: throughput and latency of zps against the C reference of ../shared/limits.
@main
struct ZPSBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zps-bench",
        abstract: "Throughput and latency benchmarks of zps, each figure beside the C reference for the same shape.",
        discussion: "Scenarios: \(ScenarioCatalog.everyScenario.map(\.name).joined(separator: ", ")); 'all' runs every one but \(ScenarioCatalog.byNameOnly.map(\.name).joined(separator: ", ")), 'list' describes them.")

    @Argument(help: "Scenarios to run ('all', 'list', or names).")
    var scenarios: [String] = ["all"]

    @Option(help: "Runs of every trial; figures are medians over them.")
    var repetitions = 3

    @Flag(help: "A smaller grid and one repetition, for a quick look.")
    var quick = false

    @Option(help: "Write the results as JSON here (and the plot beside it, as .svg).")
    var json: String?

    @Option(help: "Write the SVG plot here (default: beside --json).")
    var svg: String?

    @Option(help: "The C reference sources (built out of tree when needed); '' to skip the reference.")
    var limits = "../shared/limits"

    @Option(help: "Where to build the C reference when its folder is read-only.")
    var limitsBuild = "/tmp/zps-limits"

    @Option(help: "Keys moved per push or pull phase, which sets the number of requests.")
    var keysPerPhase = 3_000_000

    @Option(help: "Only these keys-per-request sizes, comma-separated (e.g. 1000,100000).")
    var keys: String?

    @Option(help: "Only this transport (tcp or ipc).")
    var transport: String?

    @Option(help: "Only these requests-in-flight counts, comma-separated (e.g. 1,8).")
    var inflight: String?

    @Flag(help: "Only the one-server, one-worker, scalar shapes that have a C reference.")
    var referenceShapes = false

    @Flag(help: "Keep each node of the push-pull clusters on a CPU of its own (the C reference is not pinned).")
    var pin = false

    @Option(help: "How long node I/O threads poll for the next message before they block, e.g. 50us or 0us (default: the nodes' default, 50us).")
    var busyPoll: String?

    @Option(help: "failover: the heartbeat interval of the nodes, e.g. 50ms.")
    var heartbeatInterval = "50ms"

    @Option(help: "failover: how long the manager waits for a server's heartbeat before it moves the server's ranges, e.g. 200ms.")
    var heartbeatTimeout = "200ms"

    @Option(help: "failover: servers killed per size of store, spread over the repetitions (at least one per repetition); 0 measures the cost of replication alone.")
    var kills = 11

    @Flag(help: "failover: stop the servers with SIGTERM, so that each leaves the job, instead of killing them with SIGKILL.")
    var leave = false

    @Option(help: "failover: fourth servers joined (zps server --join) per size of store, spread over the repetitions; each time to the switch and until the push throughput is back to 95%.")
    var joins = 0

    @Option(help: "failover: only these sizes of store, keys per server, comma-separated (default 100000,1000000,10000000).")
    var keysPerServer: String?

    @Option(help: "failover: the zps executable the bench starts its servers from (default: beside zps-bench).")
    var zps: String?

    @Flag(help: "Only the shapes the project's targets name (1K and 100K keys, 1 and 8 in flight; one key of 1M floats; the apply loop), and a verdict on each target.")
    var targets = false

    mutating func run() async throws {
        // As the zps executable does: every node of the in-process clusters reuses its large buffers.
        AllocatorTuning.keepLargeBuffers()
        if scenarios == ["list"] {
            for scenario in ScenarioCatalog.everyScenario { print("\(scenario.name)\t\(scenario.summary)") }
            return
        }
        var chosen: [any Scenario] = []
        if targets {
            guard scenarios == ["all"] else { throw ValidationError("--targets picks its own scenarios; name none") }
            scenarios = ["push-pull", "large-value", "apply"]
            keys = keys ?? "1000,100000"
            inflight = inflight ?? "1,8"
            referenceShapes = true
        }
        for name in scenarios {
            if name == "all" { chosen += ScenarioCatalog.all; continue }
            guard let scenario = ScenarioCatalog.scenario(named: name) else {
                throw ValidationError("no scenario '\(name)'; scenarios: \(ScenarioCatalog.everyScenario.map(\.name).joined(separator: ", "))")
            }
            chosen.append(scenario)
        }
        let keyCounts = try keys.map { try Self.counts($0, name: "key count", upTo: 1 << 23) }
        let windows = try inflight.map { try Self.counts($0, name: "in-flight count", upTo: 1024) }
        let transports = try transport.map { name in
            guard let value = BenchTransport(rawValue: name) else { throw ValidationError("transport must be tcp or ipc") }
            return [value]
        }
        let busyPollDuration = try busyPoll.map { text in
            guard let duration = DurationText.parse(text) else {
                throw ValidationError("--busy-poll: expected \(DurationText.expectation) (0us to block at once), found \"\(text)\"")
            }
            return duration
        }
        func duration(_ text: String, _ option: String) throws -> Duration {
            guard let value = DurationText.parse(text), value > .zero else {
                throw ValidationError("\(option): expected \(DurationText.expectation), found \"\(text)\"")
            }
            return value
        }
        let failover = FailoverSettings(
            heartbeatInterval: try duration(heartbeatInterval, "--heartbeat-interval"),
            heartbeatTimeout: try duration(heartbeatTimeout, "--heartbeat-timeout"),
            kills: kills, joins: joins, leave: leave, zpsExecutable: zps ?? FailoverSettings.executableBesideBench(),
            sizes: try keysPerServer.map { try Self.counts($0, name: "keys per server", upTo: 100_000_000) })
        guard failover.heartbeatInterval < failover.heartbeatTimeout else {
            throw ValidationError("--heartbeat-interval must be shorter than --heartbeat-timeout")
        }
        guard kills >= 0 else { throw ValidationError("--kills must be 0 (no kills: the cost of replication alone) or more") }
        guard joins >= 0 else { throw ValidationError("--joins must be 0 (no joins) or more") }
        let reference = limits.isEmpty ? nil : try CReference.locate(limits: limits, buildFolder: limitsBuild)
        if reference == nil { FileHandle.standardError.write(Data("no C reference at '\(limits)': zps figures only\n".utf8)) }
        let options = BenchOptions(
            repetitions: quick ? 1 : repetitions, quick: quick, reference: reference,
            keysPerPhase: quick ? keysPerPhase / 3 : keysPerPhase, keyCounts: keyCounts, transports: transports,
            windows: windows, referenceShapesOnly: referenceShapes, pinned: pin,
            busyPoll: busyPollDuration, failover: failover)

        let trials = try chosen.flatMap { try $0.trials(options) }
        let started = ContinuousClock.now
        let measured = try await BenchRunner(repetitions: options.repetitions).run(trials)
        var rows: [ResultRow] = []
        var summarized: Set<String> = []
        for scenario in chosen where summarized.insert(scenario.name).inserted {
            rows += scenario.summarize(measured.filter { $0.scenario == scenario.name })
        }
        print(ResultTable.render(rows))
        print("\(trials.count) trials x \(options.repetitions) repetitions in \(Int((ContinuousClock.now - started).seconds)) s; figures are medians, zps/C above 1 means zps did better")
        let verdicts = targets ? BenchTarget.verdicts(rows) : nil
        if let verdicts {
            print("")
            print(TargetVerdict.render(verdicts))
        }

        let svgPath = svg ?? json.map { ($0 as NSString).deletingPathExtension + ".svg" }
        if let json {
            try write(ResultDocument(rows: rows, repetitions: options.repetitions, targets: verdicts).encoded(), to: json)
        }
        let plot =
            ResultPlot.svg(rows, title: "zps vs C reference: push/pull throughput, 1 server, 1 worker, tcp")
            ?? chosen.lazy.compactMap { $0.plot(rows.filter { [name = $0.name] in $0.scenario == name }) }.first
        if let svgPath, let plot {
            try write(Data(plot.utf8), to: svgPath)
        }
    }

    private func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
        FileHandle.standardError.write(Data("wrote \(path)\n".utf8))
    }
    /// A comma-separated list of positive counts, each at most `limit`.
    private static func counts(_ list: String, name: String, upTo limit: Int) throws -> [Int] {
        try list.split(separator: ",").map { text in
            guard let count = Int(text), count > 0, count <= limit else { throw ValidationError("bad \(name) '\(text)'") }
            return count
        }
    }
}

/// The JSON file: where and when it was measured, and every row.
struct ResultDocument: Codable {
    var date: String
    var host: String
    var cpus: Int
    var repetitions: Int
    var rows: [ResultRow]
    /// With `--targets`: how each figure stands against its target.
    var targets: [TargetVerdict]?

    init(rows: [ResultRow], repetitions: Int, targets: [TargetVerdict]? = nil) {
        self.date = ISO8601DateFormatter().string(from: Date())
        self.host = ProcessInfo.processInfo.hostName
        self.cpus = ProcessInfo.processInfo.activeProcessorCount
        self.repetitions = repetitions
        self.rows = rows
        self.targets = targets
    }

    func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(self)
    }
}
