import Testing

@testable import ParameterServer

/// Rules every membership keeps: one chain per segment, covering the key space in order, each with
/// the ring owner first and min(k, S−1) distinct replicas that are ring successors.
func checkChains(_ membership: Membership) {
    let ring = membership.ring
    #expect(membership.chains.count == ring.tokens.count)
    let servers = membership.members.filter { $0.role == .server }.map(\.id)
    for (index, chain) in membership.chains.enumerated() {
        #expect(chain.range == ring.segmentRange(at: index))
        #expect(chain.primary == ring.tokens[index].owner)
        #expect(Set(chain.nodes).count == chain.nodes.count)
        #expect(chain.nodes.count == 1 + min(membership.replication, servers.count - 1))
        #expect(Set(chain.replicas) == Set(ring.successors(ofTokenAt: index, count: membership.replication)))
    }
}

@Suite("Membership: versioned table")
struct MembershipTableTests {
    @Test("ids come from a counter, are never reused, and every change bumps the version")
    func idsAndVersions() throws {
        var membership = Membership(keySpace: KeyRange(0, 1_000), replication: 1)
        #expect(membership.version == 0)
        let s0 = try membership.join(role: .server, rank: 0, endpoint: "tcp://a:1")
        let w0 = try membership.join(role: .worker, rank: 0, endpoint: "tcp://b:1")
        let s1 = try membership.join(role: .server, rank: 1, endpoint: "tcp://a:2")
        #expect([s0.node, w0.node, s1.node] == [NodeID(1), NodeID(2), NodeID(3)])
        #expect(s1.table.version == 3)
        #expect(membership.version == 3)
        let gone = try membership.remove(NodeID(1))
        #expect(gone.table.version == 4)
        #expect(gone.table.node(NodeID(1)) == nil)
        let again = try membership.join(role: .server, rank: 0, endpoint: "tcp://a:1")
        #expect(again.node == NodeID(4))
        #expect(membership.version == 5)
        #expect(membership.members.map(\.id) == [NodeID(2), NodeID(3), NodeID(4)])
        #expect(throws: MembershipError.self) { try membership.remove(NodeID(1)) }
        #expect(membership.version == 5)
        #expect(throws: MembershipError.self) { try membership.join(role: .manager, rank: 0, endpoint: "x") }
        // A worker's join or leave changes no range.
        let worker = try membership.join(role: .worker, rank: 1, endpoint: "tcp://b:2")
        #expect(worker.moves.isEmpty)
        #expect(try membership.remove(worker.node).moves.isEmpty)
    }

    @Test("the table lists every member; servers carry the ranges they are primary for")
    func table() throws {
        var membership = Membership(keySpace: KeyRange(0, 1 << 20), virtualNodes: 8, replication: 2)
        for rank in 0..<4 as Range<UInt32> { _ = try membership.join(role: .server, rank: rank, endpoint: "tcp://s:\(rank)") }
        _ = try membership.join(role: .worker, rank: 0, endpoint: "tcp://w:0")
        let table = membership.table
        #expect(table.nodes.map(\.id) == (1...5).map { NodeID(UInt32($0)) })
        #expect(table.nodes(withRole: .worker).first?.ranges == [])
        var total: UInt64 = 0
        for server in table.nodes(withRole: .server) {
            #expect(server.ranges == membership.ring.ranges(of: server.id))
            total += server.ranges.reduce(0) { $0 + $1.count }
        }
        #expect(total == 1 << 20)
        checkChains(membership)
        for key in stride(from: UInt64(0), to: 1 << 20, by: 4_099) {
            let chain = membership.chain(containing: key)!
            #expect(chain.range.contains(key))
            #expect(chain.primary == membership.ring.owner(of: key))
        }
        #expect(membership.chains(of: NodeID(1)).allSatisfy { $0.nodes.contains(NodeID(1)) })
    }

    @Test("a request under an older table gets an error carrying the current version")
    func staleRequests() throws {
        var membership = Membership(keySpace: KeyRange(0, 100))
        _ = try membership.join(role: .server, rank: 0, endpoint: "e")
        _ = try membership.join(role: .server, rank: 1, endpoint: "f")
        #expect(try membership.validate(requestVersion: 2) == .current)
        #expect(try membership.validate(requestVersion: 3) == .newerThanLocal)
        #expect(throws: StaleTableError(requestVersion: 1, currentVersion: 2)) { try membership.validate(requestVersion: 1) }
        do {
            _ = try membership.validate(requestVersion: 0)
            Issue.record("a stale request was accepted")
        } catch {
            #expect(error.currentVersion == 2)
            #expect(error.description.contains("version 2 is in force"))
        }
    }

    @Test("a join moves primaries only to the new server; new replicas join chains at the tail")
    func joinMoves() throws {
        for k in 0...2 {
            var membership = Membership(keySpace: KeyRange(0, 1 << 30), virtualNodes: 8, replication: k)
            for rank in 0..<3 as Range<UInt32> { _ = try membership.join(role: .server, rank: rank, endpoint: "s\(rank)") }
            let before = membership.chains
            let change = try membership.join(role: .server, rank: 3, endpoint: "s3")
            checkChains(membership)
            #expect(!change.moves.isEmpty)
            for move in change.moves {
                if move.primaryChanged { #expect(move.to.first == change.node) }
                // Survivors keep their relative order: the chain grows at its tail.
                let kept = move.to.dropFirst().filter { move.from.contains($0) }
                #expect(kept == move.from.filter { kept.contains($0) })
                #expect(move.receivers.allSatisfy { $0 == change.node || !move.from.contains($0) })
            }
            // Moves cover exactly the ranges whose chain changed.
            var changed: UInt64 = 0
            for chain in membership.chains {
                let old = before.first { $0.range.contains(chain.range.lowerBound) }!
                if old.nodes != chain.nodes { changed += chain.range.count }
            }
            #expect(change.moves.reduce(0) { $0 + $1.range.count } == changed)
        }
    }

    @Test("a death promotes the first replica and appends a new tail; other chains keep their order")
    func deathMoves() throws {
        var membership = Membership(keySpace: KeyRange(0, 1 << 30), virtualNodes: 8, replication: 2)
        for rank in 0..<5 as Range<UInt32> { _ = try membership.join(role: .server, rank: rank, endpoint: "s\(rank)") }
        let before = membership.chains
        let dead = NodeID(3)
        let change = try membership.remove(dead)
        checkChains(membership)
        for move in change.moves {
            #expect(move.from.contains(dead))
            #expect(!move.to.contains(dead))
            let survivors = move.from.filter { $0 != dead }
            #expect(Array(move.to.prefix(survivors.count)) == survivors)
            #expect(move.receivers.count == 1)
        }
        for chain in before where !chain.nodes.contains(dead) {
            #expect(membership.chain(containing: chain.range.lowerBound)?.nodes == chain.nodes)
        }
    }

    @Test("seeded joins and deaths keep every chain well formed; a recovery plan removes exactly the dead server")
    func randomChanges() throws {
        for seed in 0..<60 as Range<UInt64> {
            var random = SplitMix64(seed: seed)
            let k = Int(random.next() % 4)
            var membership = Membership(
                keySpace: KeyRange(0, 1 + random.next() % (1 << 40)), virtualNodes: 1 + Int(random.next() % 16), replication: k)
            var rank: UInt32 = 0
            for _ in 0..<25 {
                let servers = membership.ring.servers
                if servers.count <= k + 1 || random.next() % 3 != 0 {
                    let before = membership.chains
                    let change = try membership.join(role: .server, rank: rank, endpoint: "s\(rank)")
                    rank += 1
                    for move in change.moves where move.primaryChanged { #expect(move.to.first == change.node) }
                    #expect(change.moves.allSatisfy { !$0.from.isEmpty || before.isEmpty })
                } else {
                    let dead = servers[Int(random.next() % UInt64(servers.count))]
                    var removed = membership
                    let change = try removed.remove(dead)
                    if k == 0 {
                        // Without replicas a death loses exactly the dead server's ranges.
                        #expect(throws: RecoveryError.self) { try RecoveryPlan.make(dead: [dead], in: membership) }
                        #expect(change.moves.allSatisfy { $0.from == [dead] })
                    } else {
                        let plan = try RecoveryPlan.make(dead: [dead], in: membership)
                        #expect(plan.membership == removed, "seed \(seed)")
                        #expect(plan.moves == change.moves, "seed \(seed)")
                    }
                    membership = removed
                }
                checkChains(membership)
            }
        }
    }

    @Test("a rebalance after a death bumps the version and moves primaries with copy-then-switch moves")
    func rebalance() throws {
        var membership = Membership(keySpace: KeyRange(0, 1 << 40), replication: 1)
        for rank in 0..<8 as Range<UInt32> { _ = try membership.join(role: .server, rank: rank, endpoint: "s\(rank)") }
        #expect(membership.rebalance() == nil)
        let plan = try RecoveryPlan.make(dead: [NodeID(4)], in: membership)
        membership = plan.membership
        let version = membership.version
        let rebalanced = membership.rebalance()
        let change = try #require(rebalanced)
        #expect(membership.version == version + 1)
        #expect(change.table.version == version + 1)
        #expect(!change.moves.isEmpty)
        #expect(change.moves.contains { $0.primaryChanged && !$0.from.contains($0.to[0]) })
        checkChains(membership)
        let loads = membership.ring.servers.map { membership.ring.load(of: $0) }
        #expect(Double(loads.max()!) <= 1.10 * Double(1 << 40) / 7)
    }

    @Test("the last server leaving loses every range")
    func lastServer() throws {
        var membership = Membership(keySpace: KeyRange(0, 10), virtualNodes: 2)
        _ = try membership.join(role: .server, rank: 0, endpoint: "s")
        let change = try membership.remove(NodeID(1))
        #expect(change.moves.map(\.to) == [[], []])
        #expect(membership.chains.isEmpty)
        #expect(membership.chain(containing: 3) == nil)
    }
}
