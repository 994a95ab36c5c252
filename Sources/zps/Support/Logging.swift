import ArgumentParser
import Foundation
import Logging

enum LogSetup {
    /// Sends logs to standard error at `level`; call once per process.
    static func bootstrap(level: String, label: String) throws -> Logger {
        guard let parsed = Logger.Level(rawValue: level) else {
            throw ValidationError(
                "--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), not '\(level)'")
        }
        LoggingSystem.bootstrap { name in
            var handler = StreamLogHandler.standardError(label: name)
            handler.logLevel = parsed
            return handler
        }
        var logger = Logger(label: label)
        logger.logLevel = parsed
        return logger
    }
}

/// Lines a role process writes to standard output for the supervising `zps run`.
enum SupervisorChannel {
    /// The marker that starts every line meant for the supervisor.
    static let prefix = "@zps "

    /// Writes one line to standard output and flushes it.
    static func emit(_ line: String) {
        FileHandle.standardOutput.write(Data((prefix + line + "\n").utf8))
    }
}
