import Testing

@testable import ParameterServer

@Suite("Launch placement")
struct LaunchPlacementTests {
    static func slurm(_ rank: Int, tasks: Int, nodes: String = "node[01-03,07],login1") -> [String: String] {
        ["SLURM_PROCID": "\(rank)", "SLURM_NTASKS": "\(tasks)", "SLURM_STEP_NODELIST": nodes, "SLURMD_NODENAME": "node0\(rank % 3 + 1)"]
    }

    @Test("Slurm's global ranks: the manager, then the servers, then the workers, on the step's first node")
    func slurmRanks() throws {
        let placements = try (0..<6).map { try LaunchPlacement.detect(environment: Self.slurm($0, tasks: 6), servers: 2, workers: 3) }
        #expect(placements.map(\.role) == [.manager, .server, .server, .worker, .worker, .worker])
        #expect(placements.map(\.rank) == [0, 0, 1, 0, 1, 2])
        #expect(placements.allSatisfy { $0.launcher == .slurm && $0.managerHost == "node01" })
        #expect(placements.map(\.ownHost) == ["node01", "node02", "node03", "node01", "node02", "node03"])
    }

    @Test("a task count other than the topology's nodes is refused, naming both")
    func slurmTaskCount() {
        #expect(throws: LaunchError(
            "Slurm started 4 task(s) (SLURM_NTASKS=4), but the topology has 5 nodes: 1 manager, 2 server(s), 2 worker(s); start 5 tasks")
        ) {
            try LaunchPlacement.detect(environment: Self.slurm(1, tasks: 4), servers: 2, workers: 2)
        }
    }

    @Test("MPI's ranks from Open MPI or PMI")
    func mpiRanks() throws {
        let openMPI = try LaunchPlacement.detect(
            environment: ["OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_SIZE": "4"], servers: 1, workers: 2)
        #expect(openMPI == LaunchPlacement(launcher: .mpi, role: .worker, rank: 1))
        let pmi = try LaunchPlacement.detect(environment: ["PMI_RANK": "1", "PMI_SIZE": "4"], servers: 1, workers: 2)
        #expect(pmi == LaunchPlacement(launcher: .mpi, role: .server, rank: 0))
        #expect(throws: LaunchError("PMI_RANK=9 is outside 0..<4")) {
            try LaunchPlacement.detect(environment: ["PMI_RANK": "9", "PMI_SIZE": "4"], servers: 1, workers: 2)
        }
    }

    @Test("Kubernetes: the role given, the rank from the pod's ordinal or the Job's completion index")
    func kubernetesRanks() throws {
        let server = try LaunchPlacement.detect(environment: ["HOSTNAME": "zps-server-2"], servers: 3, workers: 2, role: .server)
        #expect(server == LaunchPlacement(launcher: .kubernetes, role: .server, rank: 2))
        let worker = try LaunchPlacement.detect(
            environment: ["HOSTNAME": "zps-worker-0-x7k2p", "JOB_COMPLETION_INDEX": "1"], servers: 3, workers: 2, role: .worker)
        #expect(worker == LaunchPlacement(launcher: .kubernetes, role: .worker, rank: 1))
        let manager = try LaunchPlacement.detect(environment: [:], servers: 3, workers: 2, role: .manager)
        #expect(manager == LaunchPlacement(launcher: .kubernetes, role: .manager, rank: 0))
        #expect(throws: LaunchError("the ordinal of pod zps-server-3 gives server rank 3, but the topology has 3 server(s)")) {
            try LaunchPlacement.detect(environment: ["HOSTNAME": "zps-server-3"], servers: 3, workers: 2, role: .server)
        }
        #expect(throws: LaunchError.self) {
            try LaunchPlacement.detect(environment: ["HOSTNAME": "worker"], servers: 3, workers: 2, role: .worker)
        }
    }

    @Test("no launcher in the environment is an error that says what was looked for")
    func noLauncher() {
        do {
            _ = try LaunchPlacement.detect(environment: ["HOME": "/root"], servers: 1, workers: 1)
            Issue.record("a placement without a launcher")
        } catch {
            #expect(error.message.hasPrefix("no launcher found: expected Slurm (SLURM_PROCID, SLURM_NTASKS), MPI"))
        }
    }

    @Test("the first host of Slurm's compressed host lists", arguments: [
        ("node[01-04,07],login1", "node01"), ("login1,node[1-2]", "login1"), ("gpu7", "gpu7"), ("rack[3,5]-n[1-2]", "rack3-n1"),
        ("n[007-009]x", "n007x"), ("", nil), ("n[a-b]", nil), ("n[1-2", nil),
    ] as [(String, String?)])
    func slurmHostLists(list: String, first: String?) {
        #expect(SlurmHostList.first(of: list) == first)
    }
}
