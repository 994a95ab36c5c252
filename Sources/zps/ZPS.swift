import ArgumentParser

/// The zps command line: run a whole topology locally, or one role of it per host.
@main
struct ZPS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zps",
        abstract: "An asynchronous parameter server: push gradients, pull weights, train sparse models.",
        subcommands: [
            RunCommand.self, GenerateCommand.self, PredictCommand.self, ManagerCommand.self, ServerCommand.self,
            WorkerCommand.self,
        ])
}
