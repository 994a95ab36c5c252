import ArgumentParser
import Foundation
import ParameterServer

/// The zps command line: run a whole topology locally, or one role of it per host.
@main
struct ZPS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zps",
        abstract: "An asynchronous parameter server: push gradients, pull weights, train sparse models.",
        version: ZPSVersion.current,
        subcommands: [
            RunCommand.self, GenerateCommand.self, PredictCommand.self, ManagerCommand.self, ServerCommand.self,
            WorkerCommand.self, LaunchCommand.self, KeygenCommand.self,
        ])

    static func main() async {
        AllocatorTuning.keepLargeBuffers()
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch let failure as CommandFailure {
            // Bad input or a failed job: the message says what and where; a usage line would not help.
            printError("zps: \(failure)")
            Foundation.exit(EXIT_FAILURE)
        } catch {
            // Mistakes in the command line itself print ArgumentParser's message and usage, and
            // exit with status 1 like every other failure (ArgumentParser would use 64).
            if exitCode(for: error) == .validationFailure {
                let message = fullMessage(for: error)
                printError(message)
                RunSummary.writeUnparsedCommandLine(CommandLine.arguments, reason: Self.message(for: error))
                Foundation.exit(EXIT_FAILURE)
            }
            exit(withError: error)
        }
    }
}
