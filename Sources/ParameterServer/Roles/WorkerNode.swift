import Logging
import ServiceLifecycle
import ZeroMQ

/// A worker process: registers, runs the application against the cluster, reports the result to the
/// manager, and exits when the manager shuts the job down.
public struct WorkerNode: Service {
    /// What a worker runs: it gets the worker handle and returns a one-line summary.
    public typealias Application = @Sendable (Worker) async throws -> String

    /// Where the application's code runs.
    public enum Placement: Sendable {
        /// On the node's I/O thread (its task executor): requests go out and replies resume the
        /// application without any thread hand-off, which makes small requests several times
        /// cheaper. The application must not block the thread for long (heartbeats go out from it).
        case ioThread
        /// On Swift's shared concurrency pool, beside the I/O thread: compute-heavy applications
        /// overlap their work with the I/O of requests in flight.
        case sharedPool
    }

    /// The node's settings.
    public let settings: NodeSettings
    private let logger: Logger
    private let application: Application
    private let placement: Placement

    /// Creates the service.
    public init(
        settings: NodeSettings, logger: Logger, placement: Placement = .ioThread, application: @escaping Application
    ) {
        self.settings = settings
        self.logger = logger
        self.placement = placement
        self.application = application
    }

    /// Runs the application and waits for the manager's shutdown; throws the first failure.
    public func run() async throws {
        let outcome = NodeOutcome()
        let watermark = FinishedWatermark()
        let (settings, logger, application, placement) = (self.settings, self.logger, self.application, self.placement)
        try await NodeRuntime.run(
            bind: settings.bindEndpoint, transport: settings.transportSettings, logger: logger, outcome: outcome
        ) {
            RoleShell(WorkerCore(settings: settings, outcome: outcome, watermark: watermark, logger: logger))
        } started: { transport, _ in
            let worker = Worker(transport: transport, settings: settings, watermark: watermark)
            do {
                _ = try await worker.waitUntilRegistered()
            } catch {
                return  // the outcome already names the cause (registration deadline, refusal)
            }
            do {
                let summary: String
                switch placement {
                case .ioThread: summary = try await withTaskExecutorPreference(transport) { try await application(worker) }
                case .sharedPool: summary = try await application(worker)
                }
                worker.reportDone(summary: summary)
            } catch {
                outcome.fail("\(settings.name): \(error)")
                worker.reportDone(summary: "", failure: "\(error)")
            }
        }
    }
}
