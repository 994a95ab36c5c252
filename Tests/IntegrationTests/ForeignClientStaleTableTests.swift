import Foundation
import ParameterServer
import Synchronization
import Testing

/// The Python client handles `staleTable` (docs/PROTOCOL.md section 15): it registers with a cluster
/// of one server, a second server joins and takes part of the key space, and the client then pushes
/// by the table it registered with. The first server refuses the push as routed by an older table;
/// the client takes the newer table from the manager, splits the push by it and sends it again, and
/// every key holds exactly the sum of what was pushed to it.
@Suite("Foreign client and node table changes", .serialized)
struct ForeignClientStaleTableTests {
    /// Reads one line from `handle` on a thread of its own (the read blocks); `nil` at end of file.
    static func line(from handle: FileHandle) async -> String? {
        await withCheckedContinuation { continuation in
            Thread {
                var bytes: [UInt8] = []
                while true {
                    let data = handle.readData(ofLength: 1)
                    guard let byte = data.first else { return continuation.resume(returning: bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self)) }
                    if byte == UInt8(ascii: "\n") { return continuation.resume(returning: String(decoding: bytes, as: UTF8.self)) }
                    bytes.append(byte)
                }
            }.start()
        }
    }

    @Test(
        "a Python client that pushes by an older node table than the server's gets staleTable once, sends the push again by the newer table, and every key holds the exact sum",
        .enabled(
            if: ForeignClientTests.pythonHasModules || ForeignClientTests.underCI,
            "python3 lacks pyzmq, msgpack or numpy (make python-deps installs them; under CI=true this fails)"))
    func pythonClientResendsOnStaleTable() async throws {
        try #require(ForeignClientTests.pythonHasModules, "CI=true and python3 cannot import zmq, msgpack and numpy")
        let directory = try ClusterSupport.temporaryDirectory("python-stale")
        let topology = try ClusterSupport.writeTopology(
            in: directory, servers: 1, workers: 1, keySpace: 1 << 20, tables: [("weights", 1)])
        let (manager, endpoint) = try await NodeProcess.startManager(topology: topology, directory: directory)
        let server = try NodeProcess.start("server", rank: 0, topology: topology, manager: endpoint, directory: directory)
        let joiner = Mutex<NodeProcess?>(nil)
        defer {
            manager.kill()
            server.kill()
            joiner.withLock { $0?.kill() }
        }
        let settings = try ClusterSupport.workerSettings(topology: topology, rank: 0, manager: endpoint)
        let count = 10_000
        let stride: UInt64 = 100
        let keys = (0..<UInt64(count)).map { $0 * stride }
        let base: Float = 0.5
        let report = Mutex<String>("")
        let pulled = Mutex<[Float]>([])
        let node = WorkerNode(settings: settings, logger: ClusterSupport.logger) { worker in
            _ = try await worker.waitUntilRegistered()
            try await worker.push(table: 0, keys: keys, values: keys.map { _ in base })
            try await worker.waitForAll()
            let python = Process()
            python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            python.arguments = [
                "python3", ForeignClientTests.clientDirectory.appendingPathComponent("check_stale_table.py").path,
                endpoint, "0", "\(count)", "\(stride)", "\(base)",
            ]
            python.currentDirectoryURL = ForeignClientTests.clientDirectory
            let output = Pipe()
            let input = Pipe()
            python.standardOutput = output
            python.standardInput = input
            try python.run()
            defer { if python.isRunning { python.terminate() } }
            let registered = await Self.line(from: output.fileHandleForReading) ?? ""
            try #require(registered.hasPrefix("registered "), "the client said '\(registered)'")
            // A second server joins: it takes part of the key space from the first, which the
            // client's table still lists as the owner of every key.
            let started = try NodeProcess(
                "server-1",
                arguments: ["server", "--topology", topology, "--join", "--rank", "1", "--manager", endpoint, "--log-level", "info"],
                directory: directory)
            joiner.withLock { $0 = started }
            let deadline = ContinuousClock.now + .seconds(60)
            while !manager.errors.contains("server-1 (") || !manager.errors.contains(") joined in ") {
                guard ContinuousClock.now < deadline, started.process.isRunning else {
                    throw ClusterTestError("server-1 did not join within 60 s; manager:\n\(manager.errors.suffix(2000))\nserver-1:\n\(started.errors.suffix(2000))")
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            input.fileHandleForWriting.write(Data("go\n".utf8))
            let answer = await Self.line(from: output.fileHandleForReading) ?? ""
            python.waitUntilExit()
            report.withLock { $0 = answer }
            let values = try await worker.pull(table: 0, keys: keys)
            pulled.withLock { $0 = values }
            return "checked the client's pushes across a join"
        }
        try await node.run()

        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(report.withLock { $0 }.utf8)) as? [String: Any],
            "client report: \(report.withLock { $0 })")
        #expect(json["exact"] as? Bool == true, "client report: \(json)")
        // The one push went to the only server of the client's first table and was refused once.
        #expect(json["stale_replies"] as? Int == 1, "client report: \(json)")
        #expect(json["servers"] as? Int == 2, "client report: \(json)")
        #expect((json["version"] as? Int ?? 0) > (json["routed_by"] as? Int ?? .max), "client report: \(json)")
        let expected = (0..<count).map { Float($0 % 97) * 0.25 + 1 + base }
        #expect(pulled.withLock { $0 } == expected)
        #expect(try await manager.waitForExit(within: .seconds(30)) == 0, "manager: \(manager.errors.suffix(1000))")
        let joinerStatus = try await joiner.withLock { $0 }?.waitForExit(within: .seconds(30))
        #expect(joinerStatus == 0)
        print("stale table: client report \(report.withLock { $0 })")
    }
}
