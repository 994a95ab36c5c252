import Foundation

/// Where the nodes of one role run: their hosts, a base port and how many of them there are.
///
/// Rank `i` runs on ``host(ofRank:)``: `hosts[i % hosts.count]`, or `host` when there is no list,
/// with `{rank}` replaced by `i` (`zps-server-{rank}.zps-servers` names each rank's own host). It
/// binds `port` plus the number of lower ranks on the same host: ranks on hosts of their own all
/// use `port`, ranks sharing one host use `port`, `port + 1`, … Port 0 means every rank binds an
/// ephemeral port and tells the manager the real one when it registers.
public struct RoleSpec: Hashable, Sendable {
    /// The address other nodes connect to, e.g. `127.0.0.1` or `ps-server-1.example`; may hold
    /// `{rank}`. Used when ``hosts`` is empty.
    public var host: String
    /// The hosts the ranks are dealt out over, rank `i` on `hosts[i % hosts.count]`; each may hold
    /// `{rank}`. Empty: every rank on ``host``.
    public var hosts: [String] = []
    /// The address the nodes bind, e.g. `0.0.0.0` or `*`; `nil` binds ``host``.
    ///
    /// libzmq binds only IP addresses and interface names, so a role whose `host` is a DNS name
    /// must give a bind address.
    public var bindAddress: String?
    /// The port of rank 0; rank `i` uses `port + i`. 0 means ephemeral ports.
    public var port: Int
    /// How many nodes play the role (always 1 for the manager).
    public var count: Int
    /// The CPUs the role's nodes are kept on: rank `i` on `cpus[i % cpus.count]` (its I/O thread
    /// and libzmq's, see ``ThreadAffinity``). Empty: any CPU, unless ``spreadsOverCPUs``.
    public var cpus: [Int]
    /// `cpus: auto`: the servers, then the workers, are dealt out over the CPUs of the host each
    /// one runs on (see ``Topology/cpu(role:rank:)``); the manager is not kept on one.
    public var spreadsOverCPUs: Bool
    /// The scheduling policy of the nodes' I/O threads and libzmq's: the kernel's default unless the
    /// topology asks for `batch`.
    public var scheduling: SchedulingPolicy = .normal
    /// How long the nodes' I/O threads poll for the next message before they block (see
    /// ``TransportSettings/busyPoll``); `.zero` blocks at once, `nil` (not given) picks by
    /// ``scheduling``: 50 µs under `batch`, none under `normal`.
    public var busyPoll: Duration?
    /// Servers only: the tokens each server places on the hash ring that splits the key space
    /// (`virtual_nodes`), so each holds about this many ranges (``ManagerSettings/virtualNodes``).
    public var virtualNodes = HashRing.defaultVirtualNodes

    /// Creates a role specification.
    public init(
        host: String = RoleSpec.defaultHost, bindAddress: String? = nil, port: Int = 0, count: Int = 1, cpus: [Int] = [],
        spreadsOverCPUs: Bool = false
    ) {
        self.host = host
        self.bindAddress = bindAddress
        self.port = port
        self.count = count
        self.cpus = cpus
        self.spreadsOverCPUs = spreadsOverCPUs
    }

    /// The CPU rank `rank` is kept on by the role's list, or `nil` when it names none.
    public func cpu(ofRank rank: Int) -> Int? {
        cpus.isEmpty ? nil : cpus[rank % cpus.count]
    }

    /// The host used when a topology gives none.
    public static let defaultHost = "127.0.0.1"

    /// Whether every rank runs on this machine's loopback address (the default host).
    public var isLoopback: Bool {
        hosts.isEmpty && ["127.0.0.1", "localhost", "::1"].contains(host)
    }

    /// Whether the nodes bind ephemeral ports.
    public var isEphemeral: Bool { port == 0 }

    /// The placeholder a host name may hold for the rank.
    public static let rankPlaceholder = "{rank}"

    /// The host rank `rank` runs on and others reach it at.
    public func host(ofRank rank: Int) -> String {
        let template = hosts.isEmpty ? host : hosts[rank % hosts.count]
        return template.replacingOccurrences(of: Self.rankPlaceholder, with: String(rank))
    }

    /// The fixed (host, port) pairs the role's ranks use, in rank order; empty when ephemeral.
    public var addresses: [(host: String, port: Int)] {
        guard !isEphemeral else { return [] }
        var used: [String: Int] = [:]
        return (0..<count).map { rank in
            let host = host(ofRank: rank)
            defer { used[host, default: 0] += 1 }
            return (host, port + used[host, default: 0])
        }
    }

    /// The port rank `rank` binds, or `nil` when ephemeral: ``port`` plus the number of lower ranks
    /// on the same host.
    public func port(ofRank rank: Int) -> Int? {
        precondition(rank >= 0 && rank < count, "rank \(rank) outside 0..<\(count)")
        guard !isEphemeral else { return nil }
        let host = host(ofRank: rank)
        return port + (0..<rank).count { self.host(ofRank: $0) == host }
    }

    /// The endpoint rank `rank` binds its ROUTER socket to: `tcp://BIND:PORT` or `tcp://BIND:*`.
    public func bindEndpoint(rank: Int) -> String {
        let address = bindAddress ?? host(ofRank: rank)
        if let port = port(ofRank: rank) { return "tcp://\(Self.bracketed(address)):\(port)" }
        return "tcp://\(Self.bracketed(address)):*"
    }

    /// The endpoint others reach rank `rank` at, `tcp://HOST:PORT`; `nil` when the port is ephemeral,
    /// because then only the node itself learns it (and reports it when it registers).
    public func connectEndpoint(rank: Int) -> String? {
        guard let port = port(ofRank: rank) else { return nil }
        return Self.endpoint(host: host(ofRank: rank), port: port)
    }

    /// `tcp://HOST:PORT`, with an IPv6 address in brackets.
    public static func endpoint(host: String, port: Int) -> String {
        "tcp://\(bracketed(host)):\(port)"
    }

    // ZeroMQ endpoints write IPv6 addresses in brackets, like URLs.
    private static func bracketed(_ address: String) -> String {
        address.contains(":") && !address.hasPrefix("[") ? "[\(address)]" : address
    }
}
