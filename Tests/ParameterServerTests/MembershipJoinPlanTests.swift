import Testing

@testable import ParameterServer

@Suite("Membership: join plan")
struct MembershipJoinPlanTests {
    static func running(servers: Int, replication: Int, virtualNodes: Int = 32, keys: UInt64 = 1 << 32) throws -> Membership {
        var membership = Membership(keySpace: KeyRange(0, keys), virtualNodes: virtualNodes, replication: replication)
        for rank in 0..<servers { _ = try membership.join(role: .server, rank: UInt32(rank), endpoint: "tcp://s:\(rank)") }
        _ = try membership.join(role: .worker, rank: 0, endpoint: "tcp://w:0")
        membership.holdsData = true
        return membership
    }

    @Test("the joiner takes exactly ⌊N/(S+1)⌋ keys, all from old servers: no key moves between old servers",
          arguments: [(1, 0), (2, 1), (3, 1), (4, 0), (4, 1), (4, 2), (7, 2), (9, 1)])
    func shareAndNoMovesBetweenOldServers(servers: Int, replication: Int) throws {
        let before = try Self.running(servers: servers, replication: replication)
        let plan = try JoinPlan.make(joiner: UInt32(servers), endpoint: "tcp://s:new", in: before)
        let ring = plan.membership.ring
        let total = before.ring.keySpace.count
        #expect(ring.load(of: plan.joiner) == total / UInt64(servers + 1))
        // Every segment of the new ring lies inside one old segment: its keys stay with their old
        // owner or go to the joiner.
        var moved: UInt64 = 0
        for segment in ring.segments {
            let old = try #require(before.ring.owner(of: segment.range.lowerBound))
            #expect(before.ring.owner(of: segment.range.upperBound - 1) == old)
            if segment.owner != old {
                #expect(segment.owner == plan.joiner, "\(segment.range) moved from \(old) to \(segment.owner)")
                moved += segment.range.count
            }
        }
        #expect(moved == ring.load(of: plan.joiner))
        for server in before.ring.servers { #expect(ring.load(of: server) <= before.ring.load(of: server)) }
        // What moves is handed over by its old owner, and only that.
        #expect(plan.handoffs.reduce(UInt64(0)) { $0 + $1.range.count } == moved)
        for handoff in plan.handoffs {
            #expect(handoff.to == plan.joiner)
            #expect(before.ring.owner(of: handoff.range.lowerBound) == handoff.from)
            #expect(before.ring.owner(of: handoff.range.upperBound - 1) == handoff.from)
        }
    }

    @Test("a fifth server joining four takes a fifth of the keys (FT-6: 1/5 ± 10%)")
    func fourToFive() throws {
        let before = try Self.running(servers: 4, replication: 1)
        let plan = try JoinPlan.make(joiner: 4, endpoint: "tcp://s:4", in: before)
        let share = Double(plan.membership.ring.load(of: plan.joiner)) / Double(before.ring.keySpace.count)
        #expect(abs(share - 0.2) <= 0.02)
        #expect(plan.membership.version == before.version + 1)
        #expect(plan.membership.member(plan.joiner)?.role == .server)
    }

    @Test("chains are valid at every step: holders first, newcomers at the tail, the final chain inside the catch-up chain",
          arguments: [0, 1, 2])
    func chainsAtEveryStep(replication k: Int) throws {
        for servers in max(1, k)...6 {
            for virtualNodes in [2, 5, 32] {
                let before = try Self.running(servers: servers, replication: k, virtualNodes: virtualNodes, keys: 10_000)
                let plan = try JoinPlan.make(joiner: UInt32(servers), endpoint: "tcp://s:new", in: before)
                #expect(plan.final == plan.membership.chains)
                #expect(plan.catchUp.map(\.range) == plan.final.map(\.range))
                // The segments tile the key space.
                #expect(plan.final.first?.range.lowerBound == 0 && plan.final.last?.range.upperBound == 10_000)
                for (a, b) in zip(plan.final, plan.final.dropFirst()) { #expect(a.range.upperBound == b.range.lowerBound) }
                var copied: [NodeID: UInt64] = [:]
                for (interim, final) in zip(plan.catchUp, plan.final) {
                    let holders = try #require(before.chain(containing: interim.range.lowerBound)).nodes
                    #expect(Set(interim.nodes).count == interim.nodes.count, "\(interim) repeats a server")
                    #expect(Set(final.nodes).count == final.nodes.count, "\(final) repeats a server")
                    #expect(final.nodes.count == min(k + 1, servers + 1))
                    // Step 1 changes nothing for requests: the holders keep their order and head.
                    #expect(Array(interim.nodes.prefix(holders.count)) == holders)
                    let newcomers = Array(interim.nodes.dropFirst(holders.count))
                    #expect(Set(newcomers) == Set(final.nodes).subtracting(holders))
                    // Every server of the final chain holds a full copy at the switch.
                    #expect(Set(final.nodes).isSubset(of: Set(interim.nodes)))
                    #expect(plan.drains.contains(interim) == (interim.nodes != final.nodes))
                    for target in newcomers {
                        copied[target, default: 0] += interim.range.count
                        let covering = plan.copies.filter { $0.target == target && $0.range.contains(interim.range) }
                        #expect(covering.count == 1 && covering.first?.source == holders.last)
                    }
                    if k == 0 {
                        #expect(interim.nodes == (final.primary == plan.joiner ? holders + [plan.joiner] : holders))
                    }
                }
                // Nothing else is copied.
                let planned = plan.copies.reduce(into: [NodeID: UInt64]()) { $0[$1.target, default: 0] += $1.range.count }
                #expect(planned == copied)
                #expect(copied[plan.joiner] ?? 0 >= plan.membership.ring.load(of: plan.joiner))
            }
        }
    }

    @Test("a server joins a running job only")
    func needsARunningRing() {
        let empty = Membership(keySpace: KeyRange(0, 100), replication: 1)
        #expect(throws: MembershipError.self) { try JoinPlan.make(joiner: 0, endpoint: "tcp://s:0", in: empty) }
    }

    @Test("a joiner whose join was abandoned joins again under its id, and no other node may take that id")
    func abandonedJoinerKeepsItsID() throws {
        var membership = try Self.running(servers: 3, replication: 1, virtualNodes: 4, keys: 300)
        let plan = try JoinPlan.make(joiner: 3, endpoint: "tcp://s:3", in: membership)
        membership.beginJoin(plan)
        // server 2 dies during the catch-up: the joiner is taken out to join again, then the recovery.
        _ = try membership.remove(plan.joiner, mayRejoin: true)
        membership = try RecoveryPlan.make(dead: [NodeID(2)], in: membership).membership
        #expect(membership.member(plan.joiner) == nil)
        #expect(throws: MembershipError.self) { try JoinPlan.make(joiner: 4, endpoint: "tcp://s:3", id: plan.joiner, in: membership) }
        #expect(throws: MembershipError.self) { try JoinPlan.make(joiner: 3, endpoint: "tcp://s:4", id: plan.joiner, in: membership) }
        #expect(throws: MembershipError.self) { try JoinPlan.make(joiner: 1, endpoint: "tcp://s:1", id: NodeID(2), in: membership) }
        let next = membership.nextNodeID
        let again = try JoinPlan.make(joiner: 3, endpoint: "tcp://s:3", id: plan.joiner, in: membership)
        #expect(again.joiner == plan.joiner)
        #expect(again.membership.nextNodeID == next)
        #expect(again.membership.members.map(\.id) == again.membership.members.map(\.id).sorted())
        // Three servers after it: its share of them, as any joiner's.
        #expect(again.membership.ring.load(of: plan.joiner) == 100)
        #expect(again.final.contains { $0.primary == plan.joiner })
        // Taken back once: the id is not free again.
        var joined = membership
        joined.beginJoin(again)
        #expect(throws: MembershipError.self) { try JoinPlan.make(joiner: 3, endpoint: "tcp://s:3", id: plan.joiner, in: joined) }
        // A removal that is not for a rejoin (the server died) keeps the id from ever coming back.
        _ = try joined.remove(plan.joiner)
        #expect(throws: MembershipError.self) { try JoinPlan.make(joiner: 3, endpoint: "tcp://s:3", id: plan.joiner, in: joined) }
    }
}
