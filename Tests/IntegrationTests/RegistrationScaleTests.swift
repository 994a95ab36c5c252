import Foundation
import ParameterServer
import Synchronization
import Testing

/// A thousand foreign clients register with a real manager, one after the other, and each pushes
/// once to a real server: every registration costs the same, whatever the number of clients
/// before it (docs/PROTOCOL.md, section 7.1).
@Suite("Registration at scale", .serialized)
struct RegistrationScaleTests {
    static let clients = 1_000
    /// The key every client pushes 1 to.
    static let key: UInt64 = 12_345

    @Test(
        "1,000 clients register with distinct ids and tables of their own; the worker's table ends equal to the manager's; log lines and table bytes per registration stay bounded",
        .enabled(
            if: ForeignClientTests.pythonHasModules || ForeignClientTests.underCI,
            "python3 lacks pyzmq, msgpack or numpy (make python-deps installs them; under CI=true this fails)"))
    func thousandRegistrations() async throws {
        try #require(ForeignClientTests.pythonHasModules, "CI=true and python3 cannot import zmq, msgpack and numpy")
        let (manager, server, endpoint, settings) = try await ClusterSupport.startOneServer("registrations", keySpace: 1 << 20)
        defer { manager.kill(); server.kill() }
        let report = Mutex<String>("")
        let workerTable = Mutex<NodeTable?>(nil)
        let startTable = Mutex<NodeTable?>(nil)
        let pulled = Mutex<[Float]>([])
        let node = WorkerNode(settings: settings, logger: ClusterSupport.logger) { worker in
            let first = try await worker.waitUntilRegistered()
            startTable.withLock { $0 = first }
            // On a thread of its own: the worker's I/O thread must go on answering heartbeats.
            let arguments = [
                "python3", ForeignClientTests.clientDirectory.appendingPathComponent("register_many.py").path, endpoint,
                "\(Self.clients)", "--push", "\(Self.key)",
            ]
            let ran: Result<Data, any Error> = await withCheckedContinuation { continuation in
                let thread = Thread {
                    continuation.resume(returning: Result {
                        let python = Process()
                        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                        python.arguments = arguments
                        let output = Pipe()
                        python.standardOutput = output
                        try python.run()
                        let data = output.fileHandleForReading.readDataToEndOfFile()
                        python.waitUntilExit()
                        return data
                    })
                }
                thread.start()
            }
            let data = try ran.get()
            report.withLock { $0 = String(decoding: data, as: UTF8.self) }
            // The last change may still be on its way to this worker.
            let expectedVersion = first.version + UInt64(Self.clients)
            let deadline = ContinuousClock.now + .seconds(10)
            var table = try await worker.waitUntilRegistered()
            while table.version < expectedVersion, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
                table = try await worker.waitUntilRegistered()
            }
            workerTable.withLock { $0 = table }
            let values = try await worker.pull(table: 0, keys: [Self.key])
            pulled.withLock { $0 = values }
            return "registered \(Self.clients) clients"
        }
        try await node.run()

        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(report.withLock { $0 }.utf8)) as? [String: Any], "register_many.py: \(report.withLock { $0 })")
        let clients = try #require(json["clients"] as? [[String: Any]])
        #expect(clients.count == Self.clients)
        let ids = clients.compactMap { $0["id"] as? Int }
        #expect(Set(ids).count == Self.clients, "distinct ids")
        let start = try #require(startTable.withLock { $0 })
        // Client i is admitted as version start + i + 1 and sees the server, the worker and itself.
        let topologyNodes = start.nodes.map { [Int($0.id.rawValue), Int($0.role.rawValue)] }
        for (index, client) in clients.enumerated() {
            let id = try #require(client["id"] as? Int)
            #expect(client["version"] as? Int == Int(start.version) + index + 1, "client \(index)")
            #expect(client["nodes"] as? [[Int]] == topologyNodes + [[id, Int(NodeRole.client.rawValue)]], "client \(index)")
            #expect(client["identities"] as? Int == 0, "client \(index) saw no routing ids")
            #expect(client["ack"] as? Bool == true, "client \(index): \(client["reply"] ?? "")")
        }
        // The server listed every client with its connection: each push was acknowledged and applied once.
        #expect(pulled.withLock { $0 } == [Float(Self.clients)])
        // The worker ends with the manager's table: its version, the topology's nodes and every client.
        let table = try #require(workerTable.withLock { $0 })
        #expect(table.version == start.version + UInt64(Self.clients))
        #expect(table.nodes.map(\.id) == start.nodes.map(\.id) + ids.map { NodeID(UInt32($0)) })
        #expect(table.nodes.dropFirst(start.nodes.count).allSatisfy { $0.role == .client && $0.ranges.isEmpty && $0.routingID == nil })
        #expect(table.nodes.prefix(start.nodes.count).elementsEqual(start.nodes))

        #expect(try await manager.waitForExit(within: .seconds(60)) == 0, "manager: \(manager.errors.suffix(2000))")
        #expect(try await server.waitForExit(within: .seconds(30)) == 0, "server: \(server.errors.suffix(1000))")
        let lines = (manager.output + manager.errors).split(separator: "\n")
        // Lines about clients come at the 1st, 2nd, 4th, 8th, … client and failed send (the clients
        // are gone when the shutdown is sent): logarithmic in the number of clients.
        #expect(lines.count <= 60, "manager wrote \(lines.count) lines:\n\(lines.suffix(80).joined(separator: "\n"))")
        let traffic = String(try #require(lines.last { $0.contains("node tables sent:") }))
        let numbers = traffic.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }.suffix(4)
        #expect(numbers.count == 4, "\(traffic)")
        let (tables, tableBytes, changes, changeBytes) = (numbers[numbers.startIndex], numbers[numbers.startIndex + 1], numbers[numbers.startIndex + 2], numbers[numbers.startIndex + 3])
        // A whole table to the server and the worker when the job starts and to each client; one
        // change per server and worker for each client.
        #expect(tables == 2 + Self.clients, "\(traffic)")
        #expect(changes == 2 * Self.clients, "\(traffic)")
        #expect(changeBytes <= changes * 128, "\(traffic)")
        #expect((tableBytes + changeBytes) / Self.clients <= 4_096, "\(traffic)")
        let seconds = json["seconds"] as? Double ?? 0
        let first100 = json["first100_ms"] as? Double ?? 0
        let last100 = json["last100_ms"] as? Double ?? 0
        print("registration figures: \(Self.clients) registrations in \(String(format: "%.2f", seconds)) s (with one push each); "
            + "mean of the first 100 \(String(format: "%.2f", first100)) ms, of the last 100 \(String(format: "%.2f", last100)) ms; \(traffic)")
    }
}
