import ArgumentParser
import ParameterServer

/// The zps command line: run a whole topology locally, or one role of it per host.
@main
struct ZPS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zps",
        abstract: "An asynchronous parameter server: push gradients, pull weights, train sparse models.",
        subcommands: [
            RunCommand.self, GenerateCommand.self, PredictCommand.self, ManagerCommand.self, ServerCommand.self,
            WorkerCommand.self, LaunchCommand.self,
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
        } catch {
            exit(withError: error)
        }
    }
}
