import Foundation
import ParameterServer
import Synchronization
import Testing

/// The Python client of clients/python against a cluster under CurveZMQ: with an allowed key it
/// joins and its pushes are pulled exactly; with a key the cluster does not know it gets nowhere.
@Suite("Foreign client under CurveZMQ", .serialized)
struct ForeignCurveClientTests {
    static func report(_ output: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(output.utf8))) as? [String: Any] ?? ["unparsed": output]
    }

    @Test(
        "pyzmq with an allowed key pushes exactly; pyzmq with an unknown key never registers",
        .enabled(
            if: ForeignClientTests.pythonHasModules || ForeignClientTests.underCI,
            "python3 lacks pyzmq, msgpack or numpy (make python-deps installs them; under CI=true this fails)"))
    func pythonClientUnderCurve() async throws {
        try #require(ForeignClientTests.pythonHasModules, "CI=true and python3 cannot import zmq, msgpack and numpy")
        let directory = try ClusterSupport.temporaryDirectory("python-curve")
        _ = try await CurveClusterTests.keygen("cluster", in: directory)
        _ = try await CurveClusterTests.keygen("notebook", in: directory)
        _ = try await CurveClusterTests.keygen("stranger", in: directory)
        let topology = try ClusterSupport.writeTopology(
            in: directory, servers: 2, workers: 1, keySpace: 1 << 20, tables: [("weights", 1)],
            security: CurveClusterTests.curveSection(allowing: ["notebook.key"]))
        let (manager, endpoint) = try await NodeProcess.startManager(topology: topology, directory: directory)
        let servers = try (0..<2).map { try NodeProcess.start("server", rank: $0, topology: topology, manager: endpoint, directory: directory) }
        defer { for process in [manager] + servers { process.kill() } }
        let settings = try ClusterSupport.workerSettings(topology: topology, rank: 0, manager: endpoint)
        let clusterKey = directory.appendingPathComponent("cluster.key").path
        let count = 5_000
        let stride: UInt64 = 100
        let stranger = Mutex<(status: Int32, output: String)?>(nil)
        let allowed = Mutex<(status: Int32, output: String)?>(nil)
        let pulled = Mutex<[Float]>([])
        let node = WorkerNode(settings: settings, logger: ClusterSupport.logger) { worker in
            _ = try await worker.waitUntilRegistered()
            let strangerKey = directory.appendingPathComponent("stranger.key_secret").path
            let refused = try await ForeignClientTests.runPython([endpoint, "0", "\(count)", "\(stride)", clusterKey, strangerKey, "3"])
            stranger.withLock { $0 = refused }
            let notebookKey = directory.appendingPathComponent("notebook.key_secret").path
            let admitted = try await ForeignClientTests.runPython([endpoint, "0", "\(count)", "\(stride)", clusterKey, notebookKey])
            allowed.withLock { $0 = admitted }
            let values = try await worker.pull(table: 0, keys: (0..<UInt64(count)).map { $0 * stride })
            pulled.withLock { $0 = values }
            return "checked the CURVE clients"
        }
        try await node.run()

        let (refusedStatus, refusedOutput) = try #require(stranger.withLock { $0 })
        let refusedReport = Self.report(refusedOutput)
        #expect(refusedStatus == 1)
        #expect(refusedReport["node"] == nil, "the unknown key got a node id: \(refusedReport)")
        #expect((refusedReport["error"] as? String)?.isEmpty == false, "\(refusedReport)")
        let (admittedStatus, admittedOutput) = try #require(allowed.withLock { $0 })
        let admittedReport = Self.report(admittedOutput)
        #expect(admittedStatus == 0, "\(admittedReport)")
        #expect(admittedReport["exact"] as? Bool == true)
        #expect(admittedReport["servers"] as? Int == 2)
        // Only the admitted client's pushes are in the table: once each.
        let expected: [Float] = (0..<count).map { index in Float(index % 97) * 0.25 + 1 }
        let mismatches = zip(pulled.withLock { $0 }, expected).count { $0 != $1 }
        #expect(pulled.withLock { $0.count } == count)
        #expect(mismatches == 0)
        #expect(try await manager.waitForExit(within: .seconds(30)) == 0, "manager: \(manager.errors.suffix(1000))")
    }
}
