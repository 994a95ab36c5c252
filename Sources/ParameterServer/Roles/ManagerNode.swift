import Logging
import ServiceLifecycle
import Synchronization
import ZeroMQ

/// The manager process: admits the nodes, runs the job's membership and shuts it down.
public struct ManagerNode: Service {
    /// The manager's settings.
    public let settings: ManagerSettings
    private let logger: Logger
    private let onBound: @Sendable (String) -> Void
    private let onFinish: @Sendable (JobReport) -> Void

    /// Creates the service; `onBound` is told the bound endpoint, `onFinish` the job's report.
    public init(
        settings: ManagerSettings, logger: Logger, onBound: @escaping @Sendable (String) -> Void,
        onFinish: @escaping @Sendable (JobReport) -> Void
    ) {
        self.settings = settings
        self.logger = logger
        self.onBound = onBound
        self.onFinish = onFinish
    }

    /// Runs the job; throws when it failed, naming the node at fault.
    public func run() async throws {
        let outcome = NodeOutcome()
        let (settings, logger, onFinish) = (self.settings, self.logger, self.onFinish)
        try await NodeRuntime.run(
            bind: settings.bindEndpoint, transport: settings.transportSettings, logger: logger, outcome: outcome
        ) {
            RoleShell(ManagerCore(settings: settings, logger: logger) { report in
                if let failure = report.failure { outcome.fail(failure) }
                onFinish(report)
            })
        } started: { _, endpoint in
            onBound(endpoint)
        } onShutdownSignal: { transport in
            outcome.fail("the manager was asked to stop (signal)")
            transport.execute { shell, io in
                shell.execute(io: io) { core in core.abort("the manager was asked to stop (signal)") }
            }
        }
    }
}
