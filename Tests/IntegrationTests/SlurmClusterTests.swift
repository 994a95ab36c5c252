import Foundation
import Testing

/// `zps launch` under a real Slurm: `srun` starts the tasks on three nodes (network namespaces, one
/// slurmd each), and the topology says nothing about hosts.
@Suite("Slurm", .serialized, .enabled(if: SlurmCluster.available, SlurmCluster.unavailableReason))
struct SlurmClusterTests {
    @Test("srun -N 3 -n 5 zps launch runs the push/pull check: the manager on the first node, the others register their node names")
    func pushPullUnderSrun() async throws {
        let slurm = try await SlurmCluster(nodes: 3)
        defer { slurm.stop() }
        let directory = try ClusterSupport.temporaryDirectory("srun")
        let topology = try LaunchClusterTests.topology(in: directory, servers: 2, workers: 2, managerPort: 7000)
        let srun = try slurm.srun(
            "srun", ["-N", "3", "-n", "5", "--overcommit", ClusterSupport.zpsBinary, "launch", "--topology", topology, "--log-level", "info"],
            directory: directory)
        defer { srun.kill() }
        #expect(try await srun.waitUntilGone(within: .seconds(90)), "srun still runs: \(srun.errors.suffix(2000))")
        // srun reports every task that exited with a non-zero status.
        #expect(!srun.errors.contains("srun: error:"), "\(srun.errors.suffix(2000))")
        #expect(srun.output.components(separatedBy: "all exact").count - 1 == 2, "\(srun.output)")
        #expect(srun.errors.contains("manager listening on tcp://0.0.0.0:7000"), "\(srun.errors.suffix(2000))")
        for name in ["server-0", "server-1", "worker-0", "worker-1"] {
            let registered = try Regex("admitted \(name) as node [0-9]+ at tcp://zn[0-2]:[0-9]+")
            #expect(srun.errors.contains(registered), "\(srun.errors.suffix(3000))")
        }
    }

    @Test("srun with a task count the topology does not have: every task fails at once, saying so")
    func wrongTaskCount() async throws {
        let slurm = try await SlurmCluster(nodes: 3)
        defer { slurm.stop() }
        let directory = try ClusterSupport.temporaryDirectory("srun-count")
        let topology = try LaunchClusterTests.topology(in: directory, servers: 2, workers: 2, managerPort: 7000)
        let srun = try slurm.srun(
            "srun", ["-N", "2", "-n", "4", "--overcommit", ClusterSupport.zpsBinary, "launch", "--topology", topology], directory: directory)
        defer { srun.kill() }
        #expect(try await srun.waitUntilGone(within: .seconds(60)), "srun still runs: \(srun.errors.suffix(2000))")
        // Slurm picks any two of the three nodes, and names one task "task 0", several "tasks 2-3".
        #expect(srun.errors.contains(#/srun: error: zn[0-2]: tasks? [0-9-]+: Exited with exit code 1/#), "\(srun.errors)")
        let refusal = "zps launch: Slurm started 4 task(s) (SLURM_NTASKS=4), but the topology has 5 nodes: 1 manager, 2 server(s), 2 worker(s); start 5 tasks"
        #expect(srun.errors.components(separatedBy: refusal).count - 1 == 4, "\(srun.errors)")
    }
}
