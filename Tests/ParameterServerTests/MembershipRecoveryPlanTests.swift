import Testing

@testable import ParameterServer

private func cluster(servers: Int, replication: Int, virtualNodes: Int = 8) throws -> Membership {
    var membership = Membership(keySpace: KeyRange(0, 1 << 32), virtualNodes: virtualNodes, replication: replication)
    for rank in 0..<servers { _ = try membership.join(role: .server, rank: UInt32(rank), endpoint: "tcp://s:\(rank)") }
    _ = try membership.join(role: .worker, rank: 0, endpoint: "tcp://w:0")
    return membership
}

@Suite("Membership: recovery plan")
struct MembershipRecoveryPlanTests {
    @Test("one death at every chain position: promote the next replica, copy from the surviving tail to a new tail", arguments: [1, 2])
    func everyPosition(replication k: Int) throws {
        let membership = try cluster(servers: 5, replication: k)
        var positionsSeen = Set<Int>()
        for dead in membership.ring.servers {
            let plan = try RecoveryPlan.make(dead: [dead], in: membership)
            #expect(plan.dead == [dead])
            #expect(plan.membership.version == membership.version + 1)
            #expect(plan.membership.member(dead) == nil)
            checkChains(plan.membership)
            for (old, new) in zip(membership.chains, plan.membership.chains) {
                #expect(new.range == old.range)
                #expect(new.nodes.count == k + 1)  // k + 1 copies again
                #expect(!new.nodes.contains(dead))
                guard let position = old.nodes.firstIndex(of: dead) else {
                    #expect(new.nodes == old.nodes)  // a chain without the dead server is untouched
                    continue
                }
                positionsSeen.insert(position)
                let survivors = old.nodes.filter { $0 != dead }
                // Survivors keep their order (the next replica is promoted when the head died) and
                // one newcomer joins at the tail.
                #expect(Array(new.nodes.prefix(k)) == survivors)
                let newcomer = new.nodes[k]
                #expect(!old.nodes.contains(newcomer))
                let covering = plan.copies.filter { $0.target == newcomer && $0.range.contains(old.range) }
                #expect(covering.count == 1)
                #expect(covering.first?.source == survivors.last)
                let promoted = plan.promotions.filter { $0.range.contains(old.range) }
                if position == 0 {
                    #expect(promoted.map(\.to) == [survivors[0]])
                    #expect(promoted.map(\.from) == [dead])
                } else {
                    #expect(promoted.isEmpty)
                }
            }
            // Nothing else is copied, and only the dead server's primary ranges change hands.
            let copied = plan.copies.reduce(UInt64(0)) { $0 + $1.range.count }
            let needed = membership.chains.filter { $0.nodes.contains(dead) }.reduce(UInt64(0)) { $0 + $1.range.count }
            #expect(copied == needed)
            let promotedKeys = plan.promotions.reduce(UInt64(0)) { $0 + $1.range.count }
            #expect(promotedKeys == membership.ring.load(of: dead))
            #expect(plan.moves.allSatisfy { $0.from.contains(dead) })
        }
        #expect(positionsSeen == Set(0...k))  // head, middle (k = 2) and tail all occurred
    }

    @Test("two deaths in one chain with k = 2 promote the surviving replica")
    func twoDeathsWithinTheModel() throws {
        let membership = try cluster(servers: 6, replication: 2)
        let chain = membership.chains[0]
        let plan = try RecoveryPlan.make(dead: chain.nodes.prefix(2), in: membership)
        let new = plan.membership.chains[0]
        #expect(new.primary == chain.nodes[2])
        #expect(new.nodes.count == 3)
        #expect(plan.copies.filter { $0.range.contains(chain.range) }.allSatisfy { $0.source == chain.nodes[2] })
        checkChains(plan.membership)
    }

    @Test("k + 1 deaths in one chain fail with an error naming exactly the lost ranges")
    func beyondTheFaultModel() throws {
        let membership = try cluster(servers: 4, replication: 1)
        let chain = membership.chains[3]
        let dead = chain.nodes
        let expected = membership.chains.filter { $0.nodes.allSatisfy(dead.contains) }.map(\.range)
        #expect(!expected.isEmpty)
        do {
            _ = try RecoveryPlan.make(dead: dead, in: membership)
            Issue.record("a plan was made although every copy of \(chain.range) died")
        } catch {
            #expect(error.code == .rangesLost)
            #expect(error.dead == dead.sorted())
            #expect(error.lostRanges.reduce(0) { $0 + $1.count } == expected.reduce(0) { $0 + $1.count })
            for range in error.lostRanges {
                #expect(error.description.contains(range.description))
                #expect(expected.contains { range.contains($0) })
            }
            for node in dead { #expect(error.description.contains(node.description)) }
        }
        // Without replication one death loses exactly that server's ranges.
        let bare = try cluster(servers: 3, replication: 0)
        #expect(throws: RecoveryError.self) { try RecoveryPlan.make(dead: [NodeID(2)], in: bare) }
        do {
            _ = try RecoveryPlan.make(dead: [NodeID(2)], in: bare)
        } catch {
            #expect(error.lostRanges == bare.ring.ranges(of: NodeID(2)))
        }
    }

    @Test("a dead node that is not a server is refused")
    func unknownServer() throws {
        let membership = try cluster(servers: 3, replication: 1)
        #expect(throws: RecoveryError.self) { try RecoveryPlan.make(dead: [NodeID(4)], in: membership) }  // the worker
        #expect(throws: RecoveryError.self) { try RecoveryPlan.make(dead: [NodeID(99)], in: membership) }
    }
}
