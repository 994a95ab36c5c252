import Foundation
import Testing

/// Clusters whose nodes run on separate "hosts" — network namespaces joined by a bridge — from one
/// topology file, as on a real cluster: each role lists its hosts, binds `0.0.0.0`, and must
/// register the address others reach it at.
@Suite(
    "Hosts in network namespaces", .serialized,
    .enabled(if: NetworkNamespaces.available, NetworkNamespaces.unavailableReason))
struct NetworkNamespaceClusterTests {
    /// A topology for a manager on host 0, then the servers, then the workers, each on a host of its
    /// own, all binding `0.0.0.0` on the same base port per role.
    static func topology(
        hosts: NetworkNamespaces, servers: Int, workers: Int, replication: Int, application: String, in directory: URL
    ) throws -> String {
        let serverHosts = hosts.addresses[1...servers].joined(separator: ", ")
        let workerHosts = hosts.addresses[(1 + servers)...(servers + workers)].joined(separator: ", ")
        let yaml = """
            name: namespaces
            manager: { host: \(hosts.addresses[0]), bind: 0.0.0.0, port: 7000 }
            servers: { count: \(servers), hosts: [\(serverHosts)], bind: 0.0.0.0, port: 7100 }
            workers: { count: \(workers), hosts: [\(workerHosts)], bind: 0.0.0.0, port: 7100 }
            key_space: 1000000
            replication: \(replication)
            tables:
              - { name: weights, value_length: 1, updater: add, consistency: eventual }
              - { name: embeddings, value_length: 3, updater: add, consistency: eventual }
            deadlines: { startup: 30s, heartbeat_interval: 500ms, heartbeat_timeout: 3s }
            application: { \(application) }
            security: { insecure: true }
            """
        let path = directory.appendingPathComponent("topology.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Starts every node of `topology` on its host, with no endpoint on the command line: each
    /// takes its address from the topology.
    static func start(
        hosts: NetworkNamespaces, servers: Int, workers: Int, topology: String, directory: URL
    ) throws -> [NodeProcess] {
        var nodes: [(name: String, host: Int, arguments: [String])] = [("manager", 0, ["manager"])]
        nodes += (0..<servers).map { ("server-\($0)", 1 + $0, ["server", "--rank", "\($0)"]) }
        nodes += (0..<workers).map { ("worker-\($0)", 1 + servers + $0, ["worker", "--rank", "\($0)"]) }
        return try nodes.map { node in
            let command = hosts.command(
                in: node.host, [ClusterSupport.zpsBinary] + node.arguments + ["--topology", topology, "--log-level", "info"])
            return try NodeProcess(node.name, arguments: command.arguments, directory: directory, executable: command.executable)
        }
    }

    @Test("the push/pull check across five hosts: hosts lists, bind 0.0.0.0, each node reached at its host's address")
    func pushPullAcrossHosts() async throws {
        let hosts = try NetworkNamespaces(count: 5)
        defer { hosts.remove() }
        let directory = try ClusterSupport.temporaryDirectory("namespaces")
        let topology = try Self.topology(
            hosts: hosts, servers: 2, workers: 2, replication: 0, application: "kind: pushpull, keys: 50000, rounds: 2",
            in: directory)
        let nodes = try Self.start(hosts: hosts, servers: 2, workers: 2, topology: topology, directory: directory)
        defer { for node in nodes { node.kill() } }

        for node in nodes {
            let status = try await node.waitForExit(within: .seconds(60))
            #expect(status == 0, "\(node.name) exited \(status.map(String.init) ?? "not at all"): \(node.errors.suffix(1500))")
        }
        let manager = nodes[0]
        #expect(manager.output.components(separatedBy: "all exact").count - 1 == 2, "\(manager.output)")
        // Both servers and both workers bind port 7100 on hosts of their own, and register there.
        for (index, node) in ["server-0", "server-1", "worker-0", "worker-1"].enumerated() {
            #expect(manager.errors.contains("admitted \(node) as ") && manager.errors.contains("at tcp://\(hosts.addresses[1 + index]):7100"),
                    "\(manager.errors.suffix(3000))")
        }
    }

    @Test("a server's host cut off for good mid-job: with replication 1 the job goes on and every key is exact")
    func cutOffServerFailsOver() async throws {
        let hosts = try NetworkNamespaces(count: 6)
        defer { hosts.remove() }
        let directory = try ClusterSupport.temporaryDirectory("namespaces-cut")
        let topology = try Self.topology(
            hosts: hosts, servers: 3, workers: 2, replication: 1,
            application: "kind: pushpull, keys: 200000, rounds: 16, batch: 20000, inflight: 4", in: directory)
        let nodes = try Self.start(hosts: hosts, servers: 3, workers: 2, topology: topology, directory: directory)
        defer { for node in nodes { node.kill() } }
        let manager = nodes[0]
        _ = try await manager.waitForLine(startingWith: "@zps ready", within: .seconds(30))
        // Once the job runs, server-1's host (host 2) loses its link.
        let deadline = ContinuousClock.now + .seconds(30)
        while !manager.errors.contains("nodes registered"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        try await Task.sleep(for: .milliseconds(300))
        try hosts.cut(2)

        for node in [manager, nodes[4], nodes[5]] {
            let status = try await node.waitForExit(within: .seconds(90))
            #expect(status == 0, "\(node.name) exited \(status.map(String.init) ?? "not at all"): \(node.errors.suffix(1500))")
        }
        #expect(manager.output.components(separatedBy: "all exact").count - 1 == 2, "\(manager.output)")
        #expect(manager.output.contains("summary recovered: "), "the job outlived the cut, so server-1 was failed over: \(manager.output)")
        #expect(manager.errors.contains("server-1 (") && manager.errors.contains("stopped sending heartbeats"))
    }
}
