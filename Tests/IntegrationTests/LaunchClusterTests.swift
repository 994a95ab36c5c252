import Foundation
import Testing

/// `zps launch` started as a cluster launcher starts it: one process per node with the launcher's
/// variables in its environment, and nothing else on the command line that says which node it is.
@Suite("zps launch", .serialized)
struct LaunchClusterTests {
    /// A topology with a fixed manager port (a launcher's tasks cannot learn an ephemeral one),
    /// servers and workers on ephemeral ports, and hosts left at their default.
    static func topology(
        in directory: URL, servers: Int, workers: Int, managerPort: Int = 20_000 + Int(getpid() % 20_000),
        security: String = "security: { insecure: true }   # zps launch binds 0.0.0.0"
    ) throws -> String {
        let yaml = """
            name: launched
            manager: { port: \(managerPort) }
            servers: { count: \(servers) }
            workers: { count: \(workers) }
            key_space: 100000
            tables: [{ name: weights, value_length: 2, updater: add, consistency: eventual }]
            deadlines: { startup: 30s }
            application: { kind: pushpull, keys: 20000, rounds: 2 }
            \(security)
            """
        let path = directory.appendingPathComponent("topology.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("five tasks with Slurm's variables run the push/pull check, the manager on the step's first node")
    func slurmTasks() async throws {
        let directory = try ClusterSupport.temporaryDirectory("launch-slurm")
        let topology = try Self.topology(in: directory, servers: 2, workers: 2)
        let tasks = try (0..<5).map { rank in
            try NodeProcess(
                "task-\(rank)", arguments: ["launch", "--topology", topology, "--log-level", "info"], directory: directory,
                environment: [
                    "SLURM_PROCID": "\(rank)", "SLURM_NTASKS": "5", "SLURM_STEP_NODELIST": "localhost", "SLURMD_NODENAME": "localhost",
                ])
        }
        defer { for task in tasks { task.kill() } }
        for task in tasks {
            let status = try await task.waitForExit(within: .seconds(60))
            #expect(status == 0, "\(task.name) exited \(status.map(String.init) ?? "not at all"): \(task.errors.suffix(1500))")
        }
        #expect(tasks[0].output.components(separatedBy: "all exact").count - 1 == 2, "\(tasks[0].output)")
        // The servers and workers registered the node name Slurm gave, with the ports they bound.
        for name in ["server-0", "server-1", "worker-0", "worker-1"] {
            let registered = try Regex("admitted \(name) as node [0-9]+ at tcp://localhost:[0-9]+")
            #expect(tasks[0].errors.contains(registered), "\(tasks[0].errors.suffix(2000))")
        }
    }

    @Test("a task count that does not match the topology fails every task at once, saying so")
    func wrongTaskCount() async throws {
        let directory = try ClusterSupport.temporaryDirectory("launch-count")
        let topology = try Self.topology(in: directory, servers: 2, workers: 2)
        let task = try NodeProcess(
            "task-1", arguments: ["launch", "--topology", topology], directory: directory,
            environment: ["SLURM_PROCID": "1", "SLURM_NTASKS": "4"])
        defer { task.kill() }
        #expect(try await task.waitForExit(within: .seconds(10)) == 1)
        #expect(task.errors == "zps launch: Slurm started 4 task(s) (SLURM_NTASKS=4), but the topology has 5 nodes: 1 manager, 2 server(s), 2 worker(s); start 5 tasks\n")
    }

    @Test("a plaintext topology without insecure: true: each launched task fails before it binds, naming the address and what to put in the topology")
    func plaintextTopologyRefused() async throws {
        let directory = try ClusterSupport.temporaryDirectory("launch-plaintext")
        let port = 20_000 + Int(getpid() % 20_000)
        let topology = try Self.topology(in: directory, servers: 1, workers: 1, managerPort: port, security: "")
        let tasks = try (0..<2).map { rank in
            try NodeProcess(
                "task-\(rank)", arguments: ["launch", "--topology", topology], directory: directory,
                environment: [
                    "SLURM_PROCID": "\(rank)", "SLURM_NTASKS": "3", "SLURM_STEP_NODELIST": "localhost", "SLURMD_NODENAME": "localhost",
                ])
        }
        defer { for task in tasks { task.kill() } }
        // The manager binds its fixed port on every interface, the server an ephemeral one.
        for (task, endpoint) in zip(tasks, ["tcp://0.0.0.0:\(port)", "tcp://0.0.0.0:*"]) {
            #expect(try await task.waitForExit(within: .seconds(10)) == 1)
            #expect(task.errors == """
                zps: launch: this node would bind \(endpoint) (zps launch binds every interface, so that the other nodes \
                reach it), and \(topology) is plaintext, so anyone who reaches that port could write to the cluster. \
                Add one of these to \(topology):
                  security: { curve: { cluster_secret_key_file: keys/cluster.key_secret } }   # zps keygen keys/cluster writes the pair (docs/DEPLOY.md)
                  security: { insecure: true }   # plaintext, on a network only the cluster reaches

                """, "\(task.name)")
        }
    }

    @Test("Kubernetes-style: each role started with --role, ranks from the pod ordinal and the completion index")
    func kubernetesRoles() async throws {
        let directory = try ClusterSupport.temporaryDirectory("launch-kubernetes")
        let topology = try Self.topology(in: directory, servers: 2, workers: 2)
        func arguments(_ role: String, _ name: String) -> [String] {
            ["launch", "--topology", topology, "--role", role, "--ready-file", directory.appendingPathComponent("\(name).ready").path]
        }
        var nodes = [try NodeProcess("manager", arguments: arguments("manager", "manager"), directory: directory)]
        for rank in 0..<2 {
            nodes.append(try NodeProcess(
                "server-\(rank)", arguments: arguments("server", "server-\(rank)"), directory: directory,
                environment: ["HOSTNAME": "zps-server-\(rank)"]))
            nodes.append(try NodeProcess(
                "worker-\(rank)", arguments: arguments("worker", "worker-\(rank)"), directory: directory,
                environment: ["HOSTNAME": "zps-worker-\(rank)-abcde", "JOB_COMPLETION_INDEX": "\(rank)"]))
        }
        defer { for node in nodes { node.kill() } }
        for node in nodes {
            let status = try await node.waitForExit(within: .seconds(60))
            #expect(status == 0, "\(node.name) exited \(status.map(String.init) ?? "not at all"): \(node.errors.suffix(1500))")
        }
        #expect(nodes[0].output.components(separatedBy: "all exact").count - 1 == 2, "\(nodes[0].output)")
        // Each node made its ready file once admitted (the manager: once listening).
        for node in nodes {
            #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("\(node.name).ready").path), "\(node.name)")
        }
    }
}
