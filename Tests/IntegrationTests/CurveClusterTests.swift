import Foundation
import ParameterServer
import Synchronization
import Testing
import ZeroMQ

/// Clusters of `zps` processes under CurveZMQ: keys from `zps keygen`, every node encrypted and
/// authenticated, foreign peers admitted only with an allowed key.
@Suite("CurveZMQ cluster", .serialized)
struct CurveClusterTests {
    /// Runs `zps keygen DIRECTORY/NAME` and returns the pair it wrote, read back from its files.
    static func keygen(_ name: String, in directory: URL) async throws -> (pair: CurveKeyPair, run: NodeProcess) {
        let base = directory.appendingPathComponent(name).path
        let run = try NodeProcess("keygen-\(name)", arguments: ["keygen", base], directory: directory)
        #expect(try await run.waitForExit(within: .seconds(30)) == 0, "zps keygen: \(run.errors)")
        let secret = try CurveKeyFile.read(CurveKeyFile.secretPath(base), secret: true)
        let pair = try CurveKeyPair(secretKey: try #require(secret.secretKey))
        return (pair, run)
    }

    /// The `security` section of a CURVE cluster whose key pair is `cluster`, admitting `clients`.
    static func curveSection(allowing clients: [String] = []) -> String {
        "curve:\n  cluster_secret_key_file: cluster.key_secret\n"
            + (clients.isEmpty ? "" : "  allowed_clients: [\(clients.joined(separator: ", "))]\n")
    }

    @Test("zps keygen writes NAME.key and NAME.key_secret (mode 0600), never prints the secret, never overwrites")
    func keygenWritesAPair() async throws {
        let directory = try ClusterSupport.temporaryDirectory("keygen")
        let (pair, run) = try await Self.keygen("node", in: directory)
        let base = directory.appendingPathComponent("node").path
        let attributes = try FileManager.default.attributesOfItem(atPath: CurveKeyFile.secretPath(base))
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(try CurveKeyFile.read(CurveKeyFile.publicPath(base), secret: false).publicKey == pair.publicKey)
        #expect(try CurveKeyFile.read(CurveKeyFile.publicPath(base), secret: false).secretKey == nil)
        #expect(run.output.contains(pair.publicKey.z85))
        #expect(!run.output.contains(pair.secretKey.z85))
        #expect(!run.errors.contains(pair.secretKey.z85))

        let again = try NodeProcess("keygen-again", arguments: ["keygen", base], directory: directory)
        #expect(try await again.waitForExit(within: .seconds(30)) == 1)
        #expect(again.errors.contains("cannot create \(CurveKeyFile.secretPath(base)): File exists"))
        #expect(try CurveKeyFile.read(CurveKeyFile.secretPath(base), secret: true).secretKey == pair.secretKey)
    }

    @Test("zps run: a CURVE cluster of a manager, 2 servers and 2 workers passes the push/pull check exactly")
    func curveClusterRuns() async throws {
        let directory = try ClusterSupport.temporaryDirectory("curve-run")
        _ = try await Self.keygen("cluster", in: directory)
        let topology = try ClusterSupport.writeTopology(
            in: directory, servers: 2, workers: 2, keySpace: 1 << 20, tables: [("weights", 1), ("embeddings", 3)],
            application: "kind: pushpull\nkeys: 100000\nrounds: 2\nbatch: 50000", security: Self.curveSection())
        let json = directory.appendingPathComponent("summary.json").path
        let run = try NodeProcess("run", arguments: ["run", topology, "--json", json], directory: directory)
        defer { run.kill() }
        #expect(try await run.waitForExit(within: .seconds(120)) == 0, "zps run: \(run.errors.suffix(2000))")
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any]
        #expect(summary?["succeeded"] as? Bool == true)
        let workers = summary?["workers"] as? [String] ?? []
        #expect(workers.count == 2)
        #expect(workers.allSatisfy { $0.contains("checked 100000 keys of 2 table(s)") && $0.contains("all exact") })
    }

    /// A pull of a protocol version no server speaks: a server answers it at once with an error,
    /// so a reply proves the message was delivered.
    static var undeliverableProbe: [Frame] {
        var header = Header(kind: .pull, sender: NodeID(7), requestID: 1, table: 0, keyCount: 1, valueLength: 1)
        header.version = 99
        return [HeaderCodec.encode(header), Frame(array: [UInt64(3)])]
    }

    /// A well-formed push of 1000 to keys 3, 7, 11 and 19 from a sender that never registered.
    static var forgedPush: [Frame] {
        [HeaderCodec.encode(Header(kind: .push, sender: NodeID(7), requestID: 2, table: 0, keyCount: 4, valueLength: 1)),
         Frame(array: [UInt64(3), 7, 11, 19]), Frame(array: [Float](repeating: 1000, count: 4))]
    }

    @Test("peers without an allowed key (plaintext, unknown key, wrong server key) get no message through; the sums stay exact")
    func foreignPeersAreRefused() async throws {
        let directory = try ClusterSupport.temporaryDirectory("curve-intruders")
        _ = try await Self.keygen("cluster", in: directory)
        let (client, _) = try await Self.keygen("client", in: directory)
        let topology = try ClusterSupport.writeTopology(
            in: directory, servers: 2, workers: 1, keySpace: 1 << 16, tables: [("weights", 1)],
            security: Self.curveSection(allowing: ["client.key"]))
        let clusterKey = try #require(try Topology.load(path: topology).security.curve?.clusterKeyPair.publicKey)
        let (manager, endpoint) = try await NodeProcess.startManager(topology: topology, directory: directory)
        let servers = try (0..<2).map { try NodeProcess.start("server", rank: $0, topology: topology, manager: endpoint, directory: directory) }
        defer { for process in [manager] + servers { process.kill() } }

        let stranger = try CurveKeyPair.generate()
        let keys = (0..<UInt64(1000)).map { $0 * 37 }
        let pushed = keys.map { Float($0 % 11) + 0.5 }
        let replies = Mutex<[String: Int]>([:])
        let pulled = Mutex<[Float]>([])
        let settings = try ClusterSupport.workerSettings(topology: topology, rank: 0, manager: endpoint)
        let node = WorkerNode(settings: settings, logger: ClusterSupport.logger) { worker in
            let table = try await worker.waitUntilRegistered()
            let serverEndpoints = table.nodes(withRole: .server).map(\.endpoint)
            // Every peer talks to the manager and every server; only the allowed client is answered.
            let context = try Context()
            var peers: [(name: String, sockets: [OwnedSocket])] = []
            let kinds: [(String, CurveKeyPair?, CurveKey?)] = [
                ("plaintext", nil, nil), ("unknown key", stranger, clusterKey), ("wrong server key", client, stranger.publicKey),
                ("allowed client", client, clusterKey),
            ]
            for (name, pair, serverKey) in kinds {
                var sockets: [OwnedSocket] = []
                for target in [endpoint] + serverEndpoints {
                    let owned = OwnedSocket(try Socket(.dealer, context: context))
                    try owned.socket.set(.linger, to: 0)
                    if let pair, let serverKey { try owned.socket.makeCurveClient(keyPair: pair, serverKey: serverKey) }
                    try owned.socket.connect(to: target)
                    try owned.socket.send(Self.undeliverableProbe)
                    if name != "allowed client" { try owned.socket.send(Self.forgedPush) }
                    sockets.append(owned)
                }
                peers.append((name, sockets))
            }
            let deadline = ContinuousClock.now + .seconds(3)
            while ContinuousClock.now < deadline {
                for (name, sockets) in peers {
                    for owned in sockets where try owned.socket.receiveMultipart(dontWait: true) != nil {
                        replies.withLock { $0[name, default: 0] += 1 }
                    }
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            peers.removeAll()  // closes the sockets
            try context.terminate()

            _ = try await worker.push(table: 0, keys: keys, values: pushed)
            pulled.withLock { $0 = [] }
            let values = try await worker.pull(table: 0, keys: keys)
            pulled.withLock { $0 = values }
            return "checked CURVE admission"
        }
        try await node.run()

        // The allowed client hears from the manager and both servers; nobody else hears anything.
        #expect(replies.withLock { $0 } == ["allowed client": 3])
        #expect(pulled.withLock { $0 } == pushed)
        for server in servers {
            #expect(try await server.waitForExit(within: .seconds(30)) == 0, "\(server.name): \(server.errors.suffix(1500))")
            // The unknown key's connection was refused by ZAP (the others failed the handshake first).
            #expect(server.errors.contains("refused 1 connection(s) so far"), "\(server.name): \(server.errors.suffix(1500))")
        }
        #expect(try await manager.waitForExit(within: .seconds(30)) == 0, "manager: \(manager.errors.suffix(1000))")
    }

    @Test("a plaintext topology binding 0.0.0.0 without insecure: true is refused before anything starts, naming the field")
    func plaintextBeyondLoopbackRefused() async throws {
        let directory = try ClusterSupport.temporaryDirectory("curve-plaintext")
        let topology = try ClusterSupport.writeTopology(
            in: directory, servers: 1, workers: 1, keySpace: 1000, tables: [("weights", 1)])
        let text = try String(contentsOfFile: topology, encoding: .utf8)
            .replacingOccurrences(of: "servers: { count: 1, host: 127.0.0.1, port: 0 }", with: "servers: { count: 1, host: 127.0.0.1, bind: 0.0.0.0, port: 0 }")
        try text.write(toFile: topology, atomically: true, encoding: .utf8)
        let run = try NodeProcess("run", arguments: ["run", topology], directory: directory)
        defer { run.kill() }
        #expect(try await run.waitForExit(within: .seconds(30)) == 1)
        #expect(
            run.errors.contains(
                "\(topology):3:45: servers.bind: servers would bind tcp://0.0.0.0:* in plaintext, reachable beyond this machine"),
            "zps run: \(run.errors)")
        #expect(!run.output.contains("starting"))

        // The same file with insecure: true passes validation (checked without starting a cluster).
        try (text + "security: { insecure: true }\n").write(toFile: topology, atomically: true, encoding: .utf8)
        #expect(try Topology.load(path: topology).security.insecure)
    }
}

/// A socket in a collection, closed when the box goes away; used on one task only.
private final class OwnedSocket {
    let socket: Socket
    init(_ socket: consuming Socket) { self.socket = socket }
}
