import Logging
import Testing

@testable import ParameterServer

/// The node table of the real manager on the in-memory network: each server's ranges are its
/// segments of the hash ring (many, spread over the key space, each server's share within 10% of the
/// mean), each segment's chain is its owner and the next `k` distinct servers clockwise, and node ids
/// come from the counter in rank order.
@Suite("Key ranges from the manager's hash ring")
struct ManagerRingTests {
    static let keySpace = KeyRange(0, 1 << 40)

    /// The first node table server-0 receives from a manager of `servers` servers and one worker.
    static func firstTable(servers: Int, replication: Int, virtualNodes: Int? = nil) throws -> NodeTable {
        let network = InMemoryNetwork(seed: 1)
        var settings = ManagerSettings(
            bindEndpoint: "mem://manager", servers: servers, workers: 1, keySpace: keySpace, deadlines: InMemoryClusterTests.deadlines)
        settings.replication = replication
        if let virtualNodes { settings.virtualNodes = virtualNodes }
        network.add(ManagerCore(settings: settings, logger: InMemoryClusterTests.logger) { _ in }, endpoint: "mem://manager")
        func node(_ role: NodeRole, _ rank: Int) -> NodeSettings {
            NodeSettings(
                role: role, rank: rank, managerEndpoint: "mem://manager", bindEndpoint: "mem://\(role)-\(rank)",
                tables: [InMemoryClusterTests.table], deadlines: InMemoryClusterTests.deadlines)
        }
        // Registered in reverse rank order: the ids and the ring must not depend on arrival.
        for rank in (0..<servers).reversed() {
            network.add(ServerCore(settings: node(.server, rank), outcome: NodeOutcome(), logger: InMemoryClusterTests.logger), endpoint: "mem://server-\(rank)")
        }
        network.add(WorkerCore(settings: node(.worker, 0), outcome: NodeOutcome(), logger: InMemoryClusterTests.logger), endpoint: "mem://worker-0")
        network.deliverAll()
        var table: NodeTable?
        network.execute(on: "mem://server-0", as: ServerCore.self) { core in table = core.nodeTable }
        return try #require(table)
    }

    @Test("with the default virtual nodes the busiest server holds at most 1.10 times the mean, in many ranges", arguments: 2...9)
    func balance(servers: Int) throws {
        for replication in [0, 1] where servers > replication {
            let table = try Self.firstTable(servers: servers, replication: replication)
            let nodes = table.nodes(withRole: .server)
            #expect(nodes.map(\.id) == (1...servers).map { NodeID(UInt32($0)) })
            #expect(nodes.map(\.rank) == (0..<servers).map(UInt32.init))
            #expect(table.nodes(withRole: .worker).map(\.id) == [NodeID(UInt32(servers + 1))])
            // The ranges tile the key space.
            let all = nodes.flatMap(\.ranges).sorted { $0.lowerBound < $1.lowerBound }
            #expect(all.first?.lowerBound == Self.keySpace.lowerBound && all.last?.upperBound == Self.keySpace.upperBound)
            #expect(zip(all, all.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
            let loads = nodes.map { $0.ranges.reduce(UInt64(0)) { $0 + $1.count } }
            let mean = Double(Self.keySpace.count) / Double(servers)
            #expect(Double(loads.max()!) <= 1.10 * mean, "S = \(servers), k = \(replication): \(loads)")
            for node in nodes {
                #expect(node.ranges.count >= HashRing.defaultVirtualNodes / 2, "\(node.name) holds \(node.ranges.count) ranges")
            }
        }
    }

    @Test("each segment's chain is its owner, then the next k distinct servers clockwise", arguments: [1, 2])
    func chainsFollowTheRing(replication: Int) throws {
        for servers in (replication + 1)...6 {
            let table = try Self.firstTable(servers: servers, replication: replication, virtualNodes: 5)
            let chains = table.chains.sorted { $0.range.lowerBound < $1.range.lowerBound }
            let owners = chains.map { $0.nodes[0] }
            for (index, chain) in chains.enumerated() {
                var expected = [owners[index]]
                var next = index
                while expected.count < replication + 1 {
                    next = (next + 1) % owners.count
                    if !expected.contains(owners[next]) { expected.append(owners[next]) }
                }
                // The replicas' order records the order the servers joined the chain in.
                #expect(chain.nodes[0] == expected[0] && Set(chain.nodes) == Set(expected), "S = \(servers), \(chain.range)")
                #expect(chain.nodes.count == expected.count)
            }
            for node in table.nodes(withRole: .server) {
                #expect(node.ranges == chains.filter { $0.nodes[0] == node.id }.map(\.range))
            }
        }
    }
}
