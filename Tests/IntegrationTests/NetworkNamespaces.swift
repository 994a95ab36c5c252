import Foundation
import Testing

/// Network namespaces that stand for separate hosts: each node namespace has one interface with an
/// address of its own, joined to the others by a bridge in a hub namespace. Nothing touches the
/// machine's own network namespace, and ``remove()`` deletes every namespace made (the interfaces
/// and the bridge go with them).
final class NetworkNamespaces: @unchecked Sendable {
    // @unchecked: used from one test task.
    /// The namespaces of the "hosts", in order.
    let names: [String]
    /// The address of each host, in order: `10.231.0.1`, `10.231.0.2`, …
    let addresses: [String]
    private let hub: String
    private let prefix: String

    /// Whether this machine lets the tests make namespaces (root, iproute2 and nsenter present).
    static let available: Bool = {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: nsenter) else { return false }
        let probe = "zps-probe-\(getpid())"
        guard (try? run(ip, ["netns", "add", probe])) != nil else { return false }
        _ = try? run(ip, ["netns", "del", probe])
        return true
    }()

    /// Why the tests that need namespaces are skipped where ``available`` is false.
    static let unavailableReason = Comment(rawValue: "network namespaces need root, iproute2 (ip) and util-linux (nsenter)")

    static let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "ip"
    static let nsenter = ["/usr/bin/nsenter", "/bin/nsenter", "/usr/sbin/nsenter"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "nsenter"

    /// Makes `count` host namespaces on one bridge.
    init(count: Int) throws {
        // Interface names have at most 15 bytes: "z" + 5 hex digits + index + side.
        let prefix = "z" + String(String(UInt32(truncatingIfNeeded: getpid()) ^ UInt32.random(in: 0...UInt32.max), radix: 16).suffix(5))
        self.prefix = prefix
        hub = "\(prefix)-hub"
        names = (0..<count).map { "\(prefix)-h\($0)" }
        addresses = (0..<count).map { "10.231.0.\($0 + 1)" }
        do {
            try Self.run(Self.ip, ["netns", "add", hub])
            try Self.run(Self.ip, ["-n", hub, "link", "add", "br0", "type", "bridge"])
            try Self.run(Self.ip, ["-n", hub, "link", "set", "br0", "up"])
            for (index, name) in names.enumerated() {
                try Self.run(Self.ip, ["netns", "add", name])
                let (hubSide, hostSide) = (link(index), "\(prefix)\(index)h")
                try Self.run(Self.ip, ["-n", hub, "link", "add", hubSide, "type", "veth", "peer", "name", hostSide, "netns", name])
                try Self.run(Self.ip, ["-n", hub, "link", "set", hubSide, "master", "br0", "up"])
                try Self.run(Self.ip, ["-n", name, "addr", "add", "\(addresses[index])/24", "dev", hostSide])
                try Self.run(Self.ip, ["-n", name, "link", "set", hostSide, "up"])
                try Self.run(Self.ip, ["-n", name, "link", "set", "lo", "up"])
            }
        } catch {
            remove()
            throw error
        }
    }

    /// The hub side of host `index`'s link.
    private func link(_ index: Int) -> String { "\(prefix)\(index)b" }

    /// Cuts host `index` off the others for good: its link on the bridge goes down.
    func cut(_ index: Int) throws {
        try Self.run(Self.ip, ["-n", hub, "link", "set", link(index), "down"])
    }

    /// The command line that runs `arguments` inside host `index`'s namespace; with `hostsFile`, in
    /// a mount namespace of its own where that file is `/etc/hosts`, so that the hosts' names resolve
    /// for it and for every process it starts.
    func command(in index: Int, _ arguments: [String], hostsFile: String? = nil) -> (executable: String, arguments: [String]) {
        let enter = ["--net=/run/netns/\(names[index])", "--"]
        guard let hostsFile else { return (Self.nsenter, enter + arguments) }
        let script = "mount --bind \"$0\" /etc/hosts && exec \"$@\""
        return (Self.nsenter, enter + [Self.unshare, "--mount", "--propagation", "private", "/bin/sh", "-c", script, hostsFile] + arguments)
    }

    static let unshare = ["/usr/bin/unshare", "/bin/unshare"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "unshare"

    /// Deletes every namespace this made.
    func remove() {
        for name in names + [hub] { _ = try? Self.run(Self.ip, ["netns", "del", name]) }
    }

    /// Runs a command to its end; throws with its standard error when it fails.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ClusterTestError("\(executable) \(arguments.joined(separator: " ")) failed: \(String(decoding: err, as: UTF8.self))")
        }
        return String(decoding: out, as: UTF8.self)
    }
}
