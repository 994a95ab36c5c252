/// Where the nodes of one role run: a host, a base port and how many of them there are.
///
/// Rank `i` of the role binds `port + i`; port 0 means every rank binds an ephemeral port and tells
/// the manager the real one when it registers.
public struct RoleSpec: Hashable, Sendable {
    /// The address other nodes connect to, e.g. `127.0.0.1` or `ps-server-1.example`.
    public var host: String
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
    /// The scheduling policy of the nodes' I/O threads and libzmq's.
    public var scheduling: SchedulingPolicy = .batch
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

    /// Whether the nodes bind ephemeral ports.
    public var isEphemeral: Bool { port == 0 }

    /// The fixed ports the role uses, `nil` when ephemeral.
    public var ports: ClosedRange<Int>? { isEphemeral ? nil : port...(port + count - 1) }

    /// The port rank `rank` binds, or `nil` when ephemeral.
    public func port(ofRank rank: Int) -> Int? {
        precondition(rank >= 0 && rank < count, "rank \(rank) outside 0..<\(count)")
        return isEphemeral ? nil : port + rank
    }

    /// The endpoint rank `rank` binds its ROUTER socket to: `tcp://BIND:PORT` or `tcp://BIND:*`.
    public func bindEndpoint(rank: Int) -> String {
        let address = bindAddress ?? host
        if let port = port(ofRank: rank) { return "tcp://\(Self.bracketed(address)):\(port)" }
        return "tcp://\(Self.bracketed(address)):*"
    }

    /// The endpoint others reach rank `rank` at, `tcp://HOST:PORT`; `nil` when the port is ephemeral,
    /// because then only the node itself learns it (and reports it when it registers).
    public func connectEndpoint(rank: Int) -> String? {
        guard let port = port(ofRank: rank) else { return nil }
        return "tcp://\(Self.bracketed(host)):\(port)"
    }

    // ZeroMQ endpoints write IPv6 addresses in brackets, like URLs.
    private static func bracketed(_ address: String) -> String {
        address.contains(":") && !address.hasPrefix("[") ? "[\(address)]" : address
    }
}
