import Foundation
import Logging
import ParameterServer
import Testing

/// Starts real `zps` processes on loopback for the integration tests and cleans up after them.
enum ClusterSupport {
    /// The `zps` executable built beside the test bundle (or `ZPS_BINARY`).
    static var zpsBinary: String {
        if let path = ProcessInfo.processInfo.environment["ZPS_BINARY"] { return path }
        let testBinary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: testBinary).deletingLastPathComponent().appendingPathComponent("zps").path
    }

    /// A fresh temporary directory.
    static func temporaryDirectory(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("zps-\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Writes a topology file for `servers` and `workers` on ephemeral loopback ports; every table
    /// uses the `add` updater and `consistency`; `extra` is appended as written (top-level sections).
    static func writeTopology(
        in directory: URL, servers: Int, workers: Int, keySpace: Int, tables: [(name: String, valueLength: Int)],
        deadlines: String = "", application: String = "kind: pushpull", consistency: String = "eventual",
        replication: Int = 0, security: String = "", extra: String = ""
    ) throws -> String {
        var yaml = """
            name: test
            manager: { host: 127.0.0.1, port: 0 }
            servers: { count: \(servers), host: 127.0.0.1, port: 0 }
            workers: { count: \(workers), host: 127.0.0.1, port: 0 }
            key_space: \(keySpace)
            replication: \(replication)
            tables:

            """
        for (index, table) in tables.enumerated() {
            yaml += "  - { name: \(table.name), id: \(index), value_length: \(table.valueLength), updater: add, consistency: \(consistency) }\n"
        }
        yaml += "deadlines:\n" + (deadlines.isEmpty ? "  startup: 60s\n" : deadlines)
        yaml += "application:\n" + application.split(separator: "\n").map { "  \($0)\n" }.joined()
        if !security.isEmpty { yaml += "security:\n" + security.split(separator: "\n").map { "  \($0)\n" }.joined() }
        if !extra.isEmpty { yaml += extra + "\n" }
        let path = directory.appendingPathComponent("topology.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Writes `topology.yaml` in `directory`: a sparse_lr job on loopback ports with one server,
    /// `workers` workers, one FTRL table over 2^20 + 1 keys, the `deadlines` flow mapping if any, and
    /// the `application` lines after `kind` and `format`.
    static func writeSparseLRTopology(
        in directory: URL, workers: Int, updaterOptions: String = "alpha: 0.05", deadlines: String? = nil,
        application: [String]
    ) throws -> String {
        var yaml = """
            manager: { host: 127.0.0.1, port: 0 }
            servers: { count: 1, host: 127.0.0.1, port: 0 }
            workers: { count: \(workers), host: 127.0.0.1, port: 0 }
            key_space: 1048577
            tables:
              - { name: weights, updater: ftrl, updater_options: { \(updaterOptions) } }

            """
        if let deadlines { yaml += "deadlines: \(deadlines)\n" }
        yaml += "application:\n  kind: sparse_lr\n  format: criteo\n" + application.map { "  \($0)\n" }.joined()
        let path = directory.appendingPathComponent("topology.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A manager and one server process for a one-worker topology with table `weights` (one float
    /// per key), and the settings of that in-process worker. The caller kills the processes.
    static func startOneServer(
        _ name: String, keySpace: Int
    ) async throws -> (manager: NodeProcess, server: NodeProcess, managerEndpoint: String, settings: NodeSettings) {
        let directory = try temporaryDirectory(name)
        let topology = try writeTopology(in: directory, servers: 1, workers: 1, keySpace: keySpace, tables: [("weights", 1)])
        let (manager, endpoint) = try await NodeProcess.startManager(topology: topology, directory: directory)
        let server = try NodeProcess.start("server", rank: 0, topology: topology, manager: endpoint, directory: directory)
        let settings = try workerSettings(topology: topology, rank: 0, manager: endpoint)
        return (manager, server, endpoint, settings)
    }

    /// Settings for an in-process worker of rank `rank` in `topology`, bound to a free loopback port.
    static func workerSettings(topology path: String, rank: Int, manager: String) throws -> NodeSettings {
        let topology = try Topology.load(path: path)
        var settings = NodeSettings(
            role: .worker, rank: rank, managerEndpoint: manager, bindEndpoint: "tcp://127.0.0.1:*",
            tables: topology.tables, deadlines: topology.deadlines)
        settings.security = topology.security.transportSecurity
        return settings
    }

    /// The children of a `zps run` by role (`manager`, `server-0`, …), read from their command
    /// lines. A child forked but not yet running `zps` still shows its parent's command line, so
    /// this waits (up to 10 s) until every living child shows a role; one that never does is keyed
    /// `pid N`.
    static func roles(of children: [Int32]) async throws -> [String: Int32] {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            let living = children.filter(processExists)
            let roles = Dictionary(living.map { (FailureDeadlineTests.role(of: $0) ?? "pid \($0)", $0) }, uniquingKeysWith: { a, _ in a })
            if !roles.keys.contains(where: { $0.hasPrefix("pid ") }) || ContinuousClock.now >= deadline { return roles }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Waits until `run` (a `zps run`) has `count` children and its output contains `text`; returns their pids.
    static func waitForChildren(of run: NodeProcess, count: Int, outputContaining text: String) async throws -> [Int32] {
        var children: [Int32] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            children = childProcesses(of: run.pid)
            if children.count == count && run.errors.contains(text) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        return children
    }

    /// Once the `count` processes of `run` (a `zps run`) run, kills `victim` (a role, `server-1`)
    /// with SIGKILL `delay` later, if there is one. Returns when the processes started and the pid
    /// killed; throws if the victim had exited already (a kill after the job ended tests nothing).
    static func kill(
        _ victim: String?, of run: NodeProcess, processes count: Int, after delay: Duration
    ) async throws -> (started: ContinuousClock.Instant, killedPid: Int32?) {
        let children = try await waitForChildren(of: run, count: count, outputContaining: "zps: starting")
        let started = ContinuousClock.now
        guard let victim else { return (started, nil) }
        try await Task.sleep(for: delay)
        guard let pid = children.first(where: { FailureDeadlineTests.role(of: $0) == victim }) else {
            throw ClusterTestError("no \(victim) among \(children)")
        }
        guard processExists(pid) else { throw ClusterTestError("\(victim) had already exited \(delay) after the start") }
        Foundation.kill(pid, SIGKILL)
        return (started, pid)
    }

    /// The quiet logger used by in-process nodes.
    static var logger: Logger {
        var logger = Logger(label: "zps.test")
        logger.logLevel = .warning
        return logger
    }
}

/// One `zps` child process whose output goes to files.
final class NodeProcess: @unchecked Sendable {
    // @unchecked: Process is used from the test task only; the class exists to tie the output files to it.
    let name: String
    let process = Process()
    let stdoutPath: String
    let stderrPath: String

    /// Starts `zps` with `arguments`, or, with `executable`, that program (e.g. `nsenter`, which
    /// then runs `zps` in a network namespace: `arguments` include the `zps` path); `environment`
    /// adds to this process's environment.
    init(_ name: String, arguments: [String], directory: URL, executable: String? = nil, environment: [String: String] = [:]) throws {
        self.name = name
        stdoutPath = directory.appendingPathComponent("\(name).out").path
        stderrPath = directory.appendingPathComponent("\(name).err").path
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable ?? ClusterSupport.zpsBinary)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    var output: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var errors: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Waits for a line of standard output that starts with `prefix`; returns the rest of it.
    func waitForLine(startingWith prefix: String, within limit: Duration) async throws -> String {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if let line = output.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) {
                return String(line.dropFirst(prefix.count))
            }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ClusterTestError("\(name) printed no line starting with '\(prefix)' within \(limit); stderr:\n\(errors.suffix(2000))")
    }

    /// Waits for the process to exit; returns its status, or nil if it is still running at the deadline.
    func waitForExit(within limit: Duration) async throws -> Int32? {
        let deadline = ContinuousClock.now + limit
        while process.isRunning && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// Kills the process if it still runs (cleanup).
    func kill() {
        if process.isRunning { Foundation.kill(pid, SIGKILL) }
    }

    /// Starts the manager of `topology` and returns it with its endpoint.
    static func startManager(topology: String, directory: URL) async throws -> (NodeProcess, String) {
        let manager = try NodeProcess("manager", arguments: ["manager", "--topology", topology, "--log-level", "info"], directory: directory)
        let endpoint = try await manager.waitForLine(startingWith: "@zps ready ", within: .seconds(30))
        return (manager, endpoint)
    }

    /// Starts `role` rank `rank` of `topology`, pointed at the manager.
    static func start(_ role: String, rank: Int, topology: String, manager: String, directory: URL) throws -> NodeProcess {
        try NodeProcess(
            "\(role)-\(rank)",
            arguments: [role, "--topology", topology, "--rank", "\(rank)", "--manager", manager, "--log-level", "info"],
            directory: directory)
    }
}

/// Whether a process with this pid exists (zombies of our own children count as gone once reaped).
func processExists(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    // A zombie is gone for our purposes.
    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    return !stat.contains(") Z ")
}

/// The pids of the children of `pid` (started by any of its threads).
func childProcesses(of pid: Int32) -> [Int32] {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    return tasks.flatMap { task -> [Int32] in
        let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? ""
        return text.split(separator: " ").compactMap { Int32($0) }
    }.sorted()
}

/// The command line of process `pid`.
func commandLine(of pid: Int32) -> [String] {
    guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return [] }
    return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
}

struct ClusterTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
