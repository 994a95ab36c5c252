import Foundation
import Logging
import ParameterServer

/// The applications a worker can run, by the topology's `application.kind`.
enum JobCatalog {
    /// The parameters each application reads; any other is refused, so a misspelt one cannot
    /// silently leave its default in place (Topologies/README.md documents them).
    static func parameterNames(of kind: ApplicationKind) -> [String] {
        switch kind {
        case .pushPull: return PushPullJob.parameterNames
        case .sparseLR: return SparseLRSettings.parameterNames
        case .consistency: return ConsistencyJob.parameterNames
        }
    }

    /// Checks the application's parameter names and values as worker `rank` will read them.
    static func validate(_ topology: Topology, rank: Int = 0) throws(TopologyError) {
        try topology.application.checkParameterNames(known: parameterNames(of: topology.application.kind))
        switch topology.application.kind {
        case .pushPull: _ = try PushPullJob(topology: topology, rank: rank)
        case .sparseLR: _ = try SparseLRJob(topology: topology, rank: rank)
        case .consistency: _ = try ConsistencyJob(topology: topology, rank: rank)
        }
    }

    static func application(for topology: Topology, rank: Int, logger: Logger) throws -> WorkerNode.Application {
        do throws(TopologyError) {
            try topology.application.checkParameterNames(known: parameterNames(of: topology.application.kind))
            switch topology.application.kind {
            case .pushPull:
                let job = try PushPullJob(topology: topology, rank: rank)
                return { worker in try await job.run(worker) }
            case .sparseLR:
                let job = try SparseLRJob(topology: topology, rank: rank)
                return { worker in try await job.run(worker) }
            case .consistency:
                let job = try ConsistencyJob(topology: topology, rank: rank)
                return { worker in try await job.run(worker) }
            }
        } catch {
            throw CommandFailure(error.description)
        }
    }
}

/// Rate-limited progress lines for the supervisor's live display.
struct ProgressReporter {
    private let rank: Int
    private var last = ContinuousClock.now - .seconds(1)

    init(rank: Int) {
        self.rank = rank
    }

    /// Emits `progress RANK FRACTION TEXT` at most five times a second (always when `force`).
    mutating func report(fraction: Double, _ text: String, force: Bool = false) {
        let now = ContinuousClock.now
        guard force || now - last >= .milliseconds(200) else { return }
        last = now
        let clamped = min(max(fraction, 0), 1)
        SupervisorChannel.emit("progress \(rank) \(String(format: "%.4f", clamped)) \(text)")
    }
}
