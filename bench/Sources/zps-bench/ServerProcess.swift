import Foundation

/// A `zps server` process the bench started, its standard error in a file: a server that can die
/// abruptly (`kill -9`), as the `failover` scenario needs, which a server in the bench's own process
/// cannot. Used from the task that started it only.
final class ServerProcess {
    let rank: Int
    let logPath: String
    private let process = Process()

    /// Starts server `rank` of `topology`, pointed at the manager at `manager`, on a free loopback
    /// port; `joining`, a server past the topology's count that joins the running job (`--join`).
    init(executable: String, topology: String, rank: Int, manager: String, directory: URL, joining: Bool = false) throws {
        self.rank = rank
        logPath = directory.appendingPathComponent("server-\(rank).err").path
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw BenchError("no zps executable at \(executable): build it (swift build -c release) or pass --zps PATH")
        }
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "server", "--topology", topology, "--rank", "\(rank)", "--manager", manager,
            "--bind", "tcp://127.0.0.1:*", "--log-level", "notice",
        ] + (joining ? ["--join"] : [])
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    /// What the server wrote to standard error so far.
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Ends the server at once, as a crash would: no goodbye to anyone.
    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }

    /// Asks the server to stop, as an operator or a pod eviction does: it leaves the job.
    func terminate() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGTERM) }
    }

    /// Waits until the server exited, at most `limit`; kills it if it is still running then.
    /// Returns whether it exited by itself.
    @discardableResult
    func waitForExit(within limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while process.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        guard process.isRunning else { return true }
        kill()
        process.waitUntilExit()
        return false
    }
}
