import Foundation
import Testing

/// A Slurm cluster on this machine: one `slurmd` per network namespace (each a node named `zn0`,
/// `zn1`, …), the controller on the first, and a `munged` of its own for authentication, all
/// under a temporary directory. The names resolve through a hosts file mounted over `/etc/hosts`
/// in the daemons' mount namespaces, which the jobs' tasks inherit. ``stop()`` ends every daemon
/// by pid and deletes the namespaces.
final class SlurmCluster: @unchecked Sendable {
    // @unchecked: used from one test task.
    let hosts: NetworkNamespaces
    let directory: URL
    let nodeNames: [String]
    private var daemons: [NodeProcess] = []

    static let programs = ["slurmctld", "slurmd", "srun", "munged"].map { name in
        ["/usr/sbin/\(name)", "/usr/bin/\(name)", "/sbin/\(name)", "/bin/\(name)"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }
    /// Whether Slurm and munge are installed and namespaces can be made.
    static let available = NetworkNamespaces.available && programs.allSatisfy { $0 != nil }
    static let unavailableReason = Comment(
        rawValue: "a Slurm cluster needs root, network namespaces and the Debian packages slurm-wlm and munge (make test installs them)")
    private static func program(_ index: Int) -> String { programs[index]! }

    var configuration: String { directory.appendingPathComponent("slurm.conf").path }
    var hostsFile: String { directory.appendingPathComponent("hosts").path }

    /// Starts munged, the controller and `nodes` slurmds.
    init(nodes: Int, cpusPerNode: Int = 2) async throws {
        hosts = try NetworkNamespaces(count: nodes)
        directory = try ClusterSupport.temporaryDirectory("slurm")
        nodeNames = (0..<nodes).map { "zn\($0)" }
        do {
            try await start(cpusPerNode: cpusPerNode)
        } catch {
            stop()
            throw error
        }
    }

    private func start(cpusPerNode: Int) async throws {
        let fileManager = FileManager.default
        let path = directory.path
        // slurmd and munged want directories others may enter.
        for folder in ["munge", "state", "spool"] + nodeNames.map({ "spool/\($0)" }) {
            try fileManager.createDirectory(atPath: "\(path)/\(folder)", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        }
        try fileManager.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        var key = [UInt8](repeating: 0, count: 1024)
        for index in key.indices { key[index] = UInt8.random(in: 0...255) }
        guard fileManager.createFile(atPath: "\(path)/munge.key", contents: Data(key), attributes: [.posixPermissions: 0o600]) else {
            throw ClusterTestError("cannot write \(path)/munge.key")
        }
        // munged runs in the foreground, as a child the cluster ends by pid.
        let socket = "\(path)/munge/munge.socket"
        let munged = try NodeProcess(
            "munged", arguments: [
                "--foreground", "--force", "--socket=\(socket)", "--key-file=\(path)/munge.key",
                "--pid-file=\(path)/munge/munged.pid", "--log-file=\(path)/munged.log", "--seed-file=\(path)/munged.seed",
            ], directory: directory, executable: Self.program(3))
        daemons.append(munged)
        let mungeDeadline = ContinuousClock.now + .seconds(10)
        while !fileManager.fileExists(atPath: socket), ContinuousClock.now < mungeDeadline {
            try await Task.sleep(for: .milliseconds(50))
        }

        var hostsText = "127.0.0.1 localhost\n"
        for (name, address) in zip(nodeNames, hosts.addresses) { hostsText += "\(address) \(name)\n" }
        try hostsText.write(toFile: hostsFile, atomically: true, encoding: .utf8)
        var hostName = [CChar](repeating: 0, count: 256)
        gethostname(&hostName, hostName.count)
        let controllerHost = String(decoding: hostName.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            .split(separator: ".").first.map(String.init) ?? "localhost"
        var conf = """
            ClusterName=zps
            SlurmctldHost=\(controllerHost)(\(hosts.addresses[0]))
            AuthType=auth/munge
            AuthInfo=socket=\(socket)
            CredType=cred/munge
            SlurmUser=root
            SlurmdUser=root
            MailProg=/bin/true
            StateSaveLocation=\(path)/state
            SlurmdSpoolDir=\(path)/spool/%n
            SlurmctldPidFile=\(path)/slurmctld.pid
            SlurmdPidFile=\(path)/slurmd-%n.pid
            SlurmctldLogFile=\(path)/slurmctld.log
            SlurmdLogFile=\(path)/slurmd-%n.log
            ProctrackType=proctrack/linuxproc
            TaskPlugin=task/none
            SelectType=select/cons_tres
            SelectTypeParameters=CR_CPU
            ReturnToService=2
            MpiDefault=none
            JobCompType=jobcomp/none
            AccountingStorageType=accounting_storage/none

            """
        for (name, address) in zip(nodeNames, hosts.addresses) {
            conf += "NodeName=\(name) NodeAddr=\(address) CPUs=\(cpusPerNode) State=UNKNOWN\n"
        }
        conf += "PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n"
        try conf.write(toFile: configuration, atomically: true, encoding: .utf8)

        daemons.append(try daemon("slurmctld", in: 0, [Self.program(0), "-D", "-i", "-f", configuration]))
        for (index, name) in nodeNames.enumerated() {
            daemons.append(try daemon("slurmd-\(name)", in: index, [Self.program(1), "-D", "-N", name, "-f", configuration]))
        }
        // srun waits until the nodes have registered with the controller.
    }

    private func daemon(_ name: String, in host: Int, _ arguments: [String]) throws -> NodeProcess {
        let command = hosts.command(in: host, arguments, hostsFile: hostsFile)
        return try NodeProcess(name, arguments: command.arguments, directory: directory, executable: command.executable)
    }

    /// Starts `srun` with `arguments` on the first node, as a user would from a login node. Wait for
    /// it with ``NodeProcess/waitUntilGone(within:)``: Foundation does not always see an `srun` end.
    func srun(_ name: String, _ arguments: [String], directory: URL) throws -> NodeProcess {
        let command = hosts.command(
            in: 0, ["/usr/bin/env", "SLURM_CONF=\(configuration)", Self.program(2)] + arguments, hostsFile: hostsFile)
        return try NodeProcess(name, arguments: command.arguments, directory: directory, executable: command.executable)
    }

    /// Ends every daemon and deletes the namespaces.
    func stop() {
        for daemon in daemons.reversed() { daemon.kill() }
        hosts.remove()
    }
}

extension NodeProcess {
    /// Waits until the process no longer exists (or is a zombie); false if it still runs after `limit`.
    func waitUntilGone(within limit: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + limit
        while processExists(pid), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        return !processExists(pid)
    }
}
