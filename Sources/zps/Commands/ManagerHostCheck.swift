import ArgumentParser
import Logging
import ParameterServer

/// Before a server or worker starts, the manager's host name must resolve: libzmq would retry a
/// name that does not without a word until the registration deadline. The node waits for it as
/// long as it would wait for the manager (names of pods and containers come up late), warns once at
/// the start, and fails naming the name and the resolver's reason.
enum ManagerHostCheck {
    static func waitUntilResolvable(_ settings: NodeSettings, logger: Logger) async throws {
        guard let host = EndpointHost.host(of: settings.managerEndpoint) else { return }
        let limit = settings.deadlines.startup + settings.deadlines.shutdown
        let deadline = ContinuousClock.now + limit
        var warned = false
        while let reason = EndpointHost.resolutionFailure(of: host) {
            if ContinuousClock.now >= deadline {
                printError(
                    "\(settings.name): the manager's host name '\(host)' (\(settings.managerEndpoint)) does not resolve: \(reason); tried for \(DurationText.format(limit))")
                throw ExitCode.failure
            }
            if !warned {
                logger.warning("the manager's host name '\(host)' (\(settings.managerEndpoint)) does not resolve: \(reason); trying again for \(DurationText.format(limit))")
                warned = true
            }
            try await Task.sleep(for: .milliseconds(500))
        }
    }
}
