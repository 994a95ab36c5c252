/// Which node of a topology a process started by a cluster launcher is, read from the launcher's
/// environment: Slurm (`srun`), MPI (`mpirun`) or Kubernetes.
///
/// Slurm and MPI start one task per node of the topology and number them with a global rank: rank
/// 0 is the manager, ranks 1…S the servers, then the workers. Kubernetes starts each role on its
/// own (the manager as a pod, the servers as a StatefulSet, the workers as an Indexed Job), so the
/// role is given and the rank is the pod's ordinal or completion index.
public struct LaunchPlacement: Hashable, Sendable {
    /// The launchers `zps launch` knows.
    public enum Launcher: String, Hashable, Sendable {
        case slurm = "Slurm"
        case mpi = "MPI"
        case kubernetes = "Kubernetes"
    }

    /// The launcher that started the process.
    public var launcher: Launcher
    /// The node's role.
    public var role: NodeRole
    /// The node's rank among its role.
    public var rank: Int
    /// The host the launcher says this process runs on (Slurm's node name), for others to reach it.
    public var ownHost: String?
    /// The host the launcher puts the manager on (Slurm: the step's first node).
    public var managerHost: String?

    /// Creates a placement.
    public init(launcher: Launcher, role: NodeRole, rank: Int, ownHost: String? = nil, managerHost: String? = nil) {
        self.launcher = launcher
        self.role = role
        self.rank = rank
        self.ownHost = ownHost
        self.managerHost = managerHost
    }

    /// The placement of this process: the launcher is found from `environment`; `role` and `rank`
    /// (`--role`, `--rank`) are needed for Kubernetes, where each role is started on its own.
    public static func detect(
        environment: [String: String], servers: Int, workers: Int, role: NodeRole? = nil, rank: Int? = nil
    ) throws(LaunchError) -> LaunchPlacement {
        if let role {
            return try kubernetes(environment: environment, role: role, rank: rank, servers: servers, workers: workers)
        }
        if let (launcher, rank, size, names) = globalRank(environment) {
            let nodes = 1 + servers + workers
            guard size == nodes else {
                throw LaunchError(
                    "\(launcher.rawValue) started \(size) task(s) (\(names.size)=\(size)), but the topology has \(nodes) nodes: "
                        + "1 manager, \(servers) server(s), \(workers) worker(s); start \(nodes) tasks")
            }
            guard (0..<size).contains(rank) else {
                throw LaunchError("\(names.rank)=\(rank) is outside 0..<\(size)")
            }
            var placement: LaunchPlacement
            switch rank {
            case 0: placement = LaunchPlacement(launcher: launcher, role: .manager, rank: 0)
            case 1...servers: placement = LaunchPlacement(launcher: launcher, role: .server, rank: rank - 1)
            default: placement = LaunchPlacement(launcher: launcher, role: .worker, rank: rank - 1 - servers)
            }
            if launcher == .slurm {
                placement.ownHost = environment["SLURMD_NODENAME"].flatMap { $0.isEmpty ? nil : $0 }
                let list = environment["SLURM_STEP_NODELIST"] ?? environment["SLURM_JOB_NODELIST"] ?? environment["SLURM_NODELIST"]
                placement.managerHost = list.flatMap(SlurmHostList.first(of:))
            }
            return placement
        }
        throw LaunchError(
            "no launcher found: expected Slurm (SLURM_PROCID, SLURM_NTASKS), MPI (OMPI_COMM_WORLD_RANK and _SIZE, or "
                + "PMI_RANK and PMI_SIZE), or --role for Kubernetes (the rank from --rank, JOB_COMPLETION_INDEX or the "
                + "pod name's ordinal)")
    }

    /// The global rank and task count a launcher set, with the variables' names.
    private static func globalRank(
        _ environment: [String: String]
    ) -> (Launcher, rank: Int, size: Int, names: (rank: String, size: String))? {
        let candidates: [(Launcher, String, String)] = [
            (.slurm, "SLURM_PROCID", "SLURM_NTASKS"),
            (.mpi, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
            (.mpi, "PMI_RANK", "PMI_SIZE"),
            (.mpi, "PMIX_RANK", "PMIX_SIZE"),
        ]
        for (launcher, rankName, sizeName) in candidates {
            guard let rank = environment[rankName].flatMap({ Int($0) }), let size = environment[sizeName].flatMap({ Int($0) })
            else { continue }
            return (launcher, rank, size, (rankName, sizeName))
        }
        return nil
    }

    private static func kubernetes(
        environment: [String: String], role: NodeRole, rank: Int?, servers: Int, workers: Int
    ) throws(LaunchError) -> LaunchPlacement {
        let count: Int
        switch role {
        case .manager: count = 1
        case .server: count = servers
        case .worker: count = workers
        case .client: throw LaunchError("--role client: foreign clients are not launched by zps")
        }
        let found: Int
        let source: String
        if let rank {
            (found, source) = (rank, "--rank")
        } else if role == .manager {
            (found, source) = (0, "the manager")
        } else if let index = environment["JOB_COMPLETION_INDEX"].flatMap({ Int($0) }) {
            (found, source) = (index, "JOB_COMPLETION_INDEX")
        } else if let name = environment["HOSTNAME"], let ordinal = Self.ordinal(ofPod: name) {
            (found, source) = (ordinal, "the ordinal of pod \(name)")
        } else {
            throw LaunchError(
                "--role \(role) needs a rank: --rank, JOB_COMPLETION_INDEX (an Indexed Job) or a pod name ending in its "
                    + "ordinal (a StatefulSet), in HOSTNAME")
        }
        guard (0..<count).contains(found) else {
            throw LaunchError("\(source) gives \(role) rank \(found), but the topology has \(count) \(role)(s)")
        }
        return LaunchPlacement(launcher: .kubernetes, role: role, rank: found)
    }

    /// The ordinal a StatefulSet gives a pod: the number after the last `-` of its name.
    static func ordinal(ofPod name: String) -> Int? {
        guard let dash = name.lastIndex(of: "-") else { return nil }
        let digits = name[name.index(after: dash)...]
        guard !digits.isEmpty, digits.allSatisfy(\.isNumber) else { return nil }
        return Int(digits)
    }
}

/// Why `zps launch` cannot tell which node of the topology it is.
public struct LaunchError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong, naming the variables or options read.
    public var message: String
    /// Creates an error.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
