import Logging
import ServiceLifecycle
import ZeroMQ

/// A server process: registers with the manager, serves its ranges until the manager says stop.
public struct ServerNode: Service {
    /// The node's settings.
    public let settings: NodeSettings
    private let registry: UpdaterRegistry
    private let logger: Logger
    private let onBound: @Sendable (String) -> Void
    private let onLeft: @Sendable () -> Void

    /// Creates the service; `onBound` is told the endpoint the server's ROUTER is bound to, and
    /// `onLeft` is called when the server, asked to stop (SIGTERM) while the job ran, left it: the
    /// manager took it out and the job goes on (docs/FAULT-TOLERANCE.md, "Leaving").
    public init(
        settings: NodeSettings, registry: UpdaterRegistry = .builtIn, logger: Logger,
        onBound: @escaping @Sendable (String) -> Void = { _ in }, onLeft: @escaping @Sendable () -> Void = {}
    ) {
        self.settings = settings
        self.registry = registry
        self.logger = logger
        self.onBound = onBound
        self.onLeft = onLeft
    }

    /// Runs until the manager shuts the job down (or a deadline or SIGTERM ends it); throws the failure.
    public func run() async throws {
        let outcome = NodeOutcome()
        let (settings, registry, logger) = (self.settings, self.registry, self.logger)
        try await NodeRuntime.run(
            bind: settings.bindEndpoint, transport: settings.transportSettings, logger: logger, outcome: outcome
        ) {
            RoleShell(ServerCore(settings: settings, registry: registry, outcome: outcome, logger: logger))
        } started: { transport, endpoint in
            onBound(endpoint)
            _ = transport
        } onShutdownSignal: { transport in
            transport.execute { shell, io in
                shell.execute(io: io) { core in core.leaveOrStop() }
            }
        }
        if outcome.summary != nil { onLeft() }
    }
}

/// Starts a transport, waits for it to end (stopping it on graceful shutdown), and tears down in order.
enum NodeRuntime {
    static func run<Handler: TransportHandler>(
        bind: String, transport settings: TransportSettings, logger: Logger, outcome: NodeOutcome,
        makeHandler: @escaping @Sendable () -> Handler,
        started: (ZMQTransport<Handler>, String) async throws -> Void,
        onShutdownSignal: (@Sendable (ZMQTransport<Handler>) -> Void)? = nil
    ) async throws {
        // On a `cpu`, the node's I/O thread and libzmq's share it.
        let context = try Context(
            options: Context.Options(
                ioThreadCPUs: settings.cpu.map { [$0] } ?? [], threadNamePrefix: settings.libzmqThreadPrefix))
        let name = settings.threadName
        do {
            let transport = try ZMQTransport(
                context: context, bind: bind, settings: settings, logger: logger, makeHandler: makeHandler)
            let endpoint: String
            do {
                endpoint = try transport.start()
            } catch let error as ThreadAffinityError {
                throw NodeFailure("\(name) cannot run on its cpu: \(error)")
            } catch {
                throw NodeFailure("\(name) could not bind \(bind): \(error)")
            }
            try await withGracefulShutdownHandler {
                try await started(transport, endpoint)
                await transport.waitUntilFinished()
            } onGracefulShutdown: {
                // A role with a handler of its own decides what the signal means (a server leaves the job).
                if let onShutdownSignal {
                    onShutdownSignal(transport)
                } else {
                    outcome.fail("\(name) was asked to stop (signal)")
                    transport.stop()
                }
            }
            await transport.waitUntilFinished()
        } catch {
            try? context.terminate()
            throw error
        }
        try? context.terminate()
        if let failure = outcome.failure { throw NodeFailure(failure) }
        if let jobFailure = outcome.jobFailure {
            throw NodeFailure("stopped because the job failed: \(jobFailure)", elsewhere: true)
        }
    }
}
