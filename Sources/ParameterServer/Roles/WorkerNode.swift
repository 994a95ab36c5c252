import Logging
import ServiceLifecycle
import ZeroMQ

/// A worker process: registers, runs the application against the cluster, reports the result to the
/// manager, and exits when the manager shuts the job down.
public struct WorkerNode: Service {
    /// What a worker runs: it gets the worker handle and returns a one-line summary.
    public typealias Application = @Sendable (Worker) async throws -> String

    /// The node's settings.
    public let settings: NodeSettings
    private let logger: Logger
    private let application: Application

    /// Creates the service.
    public init(settings: NodeSettings, logger: Logger, application: @escaping Application) {
        self.settings = settings
        self.logger = logger
        self.application = application
    }

    /// Runs the application and waits for the manager's shutdown; throws the first failure.
    public func run() async throws {
        let outcome = NodeOutcome()
        let (settings, logger, application) = (self.settings, self.logger, self.application)
        try await NodeRuntime.run(bind: settings.bindEndpoint, name: settings.name, logger: logger, outcome: outcome) {
            WorkerCore(settings: settings, outcome: outcome, logger: logger)
        } started: { transport, _ in
            let worker = Worker(transport: transport, settings: settings)
            do {
                _ = try await worker.waitUntilRegistered()
            } catch {
                return  // the outcome already names the cause (registration deadline, refusal)
            }
            do {
                let summary = try await application(worker)
                worker.reportDone(summary: summary)
            } catch {
                outcome.fail("\(settings.name): \(error)")
                worker.reportDone(summary: "", failure: "\(error)")
            }
        }
    }
}
