import Foundation
import ParameterServer
import Synchronization
import Testing

/// A Python program that speaks docs/PROTOCOL.md with pyzmq and msgpack joins a running cluster as a
/// client; what it pushes must be exactly what a Swift worker pulls.
@Suite("Foreign client", .serialized)
struct ForeignClientTests {
    static let clientDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("clients/python")

    /// Runs check_cluster.py with `arguments` and returns its exit status and what it printed (a JSON
    /// report). It runs off the calling thread: called from a worker's closure, which runs on the
    /// worker's I/O thread, waiting for it there would keep the worker from sending heartbeats.
    static func runPython(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await Task.detached {
            let python = Process()
            python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            python.arguments = ["python3", clientDirectory.appendingPathComponent("check_cluster.py").path] + arguments
            python.currentDirectoryURL = clientDirectory
            let output = Pipe()
            python.standardOutput = output
            try python.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            python.waitUntilExit()
            return (python.terminationStatus, String(decoding: data, as: UTF8.self))
        }.value
    }

    static var pythonHasModules: Bool {
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = ["python3", "-c", "import zmq, msgpack, numpy"]
        probe.standardOutput = FileHandle.nullDevice
        probe.standardError = FileHandle.nullDevice
        guard (try? probe.run()) != nil else { return false }
        probe.waitUntilExit()
        return probe.terminationStatus == 0
    }

    /// Whether the tests run under CI (`CI=true`), where `make python-deps` must have installed the
    /// modules: their absence there is a failure, not a reason to skip.
    static let underCI = ProcessInfo.processInfo.environment["CI"] == "true"

    @Test(
        "a Python client's pushes are pulled exactly by a Swift worker",
        .enabled(
            if: pythonHasModules || underCI,
            "python3 lacks pyzmq, msgpack or numpy (make python-deps installs them; under CI=true this fails)"))
    func pythonClientJoins() async throws {
        try #require(
            Self.pythonHasModules,
            "CI=true and python3 cannot import zmq, msgpack and numpy, which make python-deps installs")
        let directory = try ClusterSupport.temporaryDirectory("python")
        let topology = try ClusterSupport.writeTopology(
            in: directory, servers: 2, workers: 1, keySpace: 1 << 20, tables: [("weights", 1)])
        let (manager, endpoint) = try await NodeProcess.startManager(topology: topology, directory: directory)
        let servers = try (0..<2).map { try NodeProcess.start("server", rank: $0, topology: topology, manager: endpoint, directory: directory) }
        defer { for process in [manager] + servers { process.kill() } }
        let settings = try ClusterSupport.workerSettings(topology: topology, rank: 0, manager: endpoint)
        let count = 10_000
        let stride: UInt64 = 100
        let report = Mutex<String>("")
        let pulled = Mutex<[Float]>([])
        let node = WorkerNode(settings: settings, logger: ClusterSupport.logger) { worker in
            _ = try await worker.waitUntilRegistered()
            let (_, output) = try await Self.runPython([endpoint, "0", "\(count)", "\(stride)"])
            report.withLock { $0 = output }
            let values = try await worker.pull(table: 0, keys: (0..<UInt64(count)).map { $0 * stride })
            pulled.withLock { $0 = values }
            return "checked the client's pushes"
        }
        try await node.run()

        let json = try #require(try JSONSerialization.jsonObject(with: Data(report.withLock { $0 }.utf8)) as? [String: Any])
        #expect(json["exact"] as? Bool == true, "client report: \(json)")
        #expect(json["servers"] as? Int == 2)
        #expect((json["node"] as? Int ?? 0) > 1, "the client got a node id of its own")
        let expected = (0..<count).map { Float($0 % 97) * 0.25 + 1 }
        #expect(pulled.withLock { $0 } == expected)
        #expect(try await manager.waitForExit(within: .seconds(30)) == 0, "manager: \(manager.errors.suffix(1000))")
    }
}
