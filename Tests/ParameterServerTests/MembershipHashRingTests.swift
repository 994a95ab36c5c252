import Testing

@testable import ParameterServer

/// The pieces of the key space on which two assignments are constant, with the owner in each.
func overlay(_ old: [HashRing.Segment], _ new: [HashRing.Segment]) -> [(range: KeyRange, old: NodeID, new: NodeID)] {
    var result: [(range: KeyRange, old: NodeID, new: NodeID)] = []
    var i = 0
    var j = 0
    while i < old.count, j < new.count {
        let piece = old[i].range.intersection(new[j].range)
        if !piece.isEmpty { result.append((piece, old[i].owner, new[j].owner)) }
        if old[i].range.upperBound < new[j].range.upperBound { i += 1 } else if old[i].range.upperBound > new[j].range.upperBound {
            j += 1
        } else {
            i += 1
            j += 1
        }
    }
    return result
}

private func ids(_ count: Int, from first: UInt32 = 1) -> [NodeID] { (0..<count).map { NodeID(first + UInt32($0)) } }

/// The busiest server's keys over the mean.
private func imbalance(_ ring: HashRing) -> Double {
    let loads = ring.servers.map { Double(ring.load(of: $0)) }
    return loads.max()! / (Double(ring.keySpace.count) / Double(loads.count))
}

/// Structural rules every ring keeps: sorted distinct tokens, the first at the lower bound, every key
/// owned by a server on the ring, ranges per server covering the key space exactly once.
private func checkStructure(_ ring: HashRing) {
    guard !ring.servers.isEmpty else {
        #expect(ring.tokens.isEmpty)
        return
    }
    #expect(ring.tokens.first?.position == ring.keySpace.lowerBound)
    for index in ring.tokens.indices.dropFirst() {
        #expect(ring.tokens[index - 1].position < ring.tokens[index].position)
    }
    #expect(Set(ring.tokens.map(\.owner)).isSubset(of: Set(ring.servers)))
    let total = ring.servers.reduce(UInt64(0)) { $0 + ring.load(of: $1) }
    #expect(total == ring.keySpace.count)
}

@Suite("Membership: hash ring")
struct MembershipHashRingTests {
    static let keySpaces: [KeyRange] = [.all, KeyRange(0, 1_000_000), KeyRange(0, 1 << 40)]

    @Test("the busiest server holds at most 1.10× the mean for S = 2...32 at the default V", arguments: keySpaces)
    func balanceAtDefaultVirtualNodes(keySpace: KeyRange) {
        for count in 2...32 {
            let ring = HashRing(servers: ids(count), keySpace: keySpace)
            checkStructure(ring)
            #expect(imbalance(ring) <= 1.10, "S = \(count): \(imbalance(ring))")
            // Water-filling leaves every server within a key of the level.
            let loads = ring.servers.map { ring.load(of: $0) }
            #expect(loads.max()! - loads.min()! <= 1 + UInt64(count), "S = \(count): \(loads)")
        }
    }

    @Test("a server contributes about V tokens", arguments: [4, 16, 32, 64])
    func tokensPerServer(virtualNodes: Int) {
        for count in [2, 5, 16, 32] {
            let ring = HashRing(servers: ids(count), virtualNodes: virtualNodes)
            for server in ring.servers {
                let tokens = ring.tokens.filter { $0.owner == server }.count
                #expect(tokens >= virtualNodes / 2 && tokens <= virtualNodes + count, "S = \(count), \(server): \(tokens)")
            }
        }
    }

    @Test("a join moves keys only from old servers to the new one, 1/(S+1) of them", arguments: keySpaces)
    func joinMovesOnlyToTheNewServer(keySpace: KeyRange) {
        var ring = HashRing(servers: ids(1), keySpace: keySpace)
        for count in 1...32 {
            let before = ring.segments
            let newcomer = NodeID(UInt32(100 + count))
            ring.add(newcomer)
            checkStructure(ring)
            var moved: UInt64 = 0
            for piece in overlay(before, ring.segments) where piece.old != piece.new {
                #expect(piece.new == newcomer, "S = \(count): \(piece.range) moved \(piece.old) → \(piece.new)")
                moved += piece.range.count
            }
            let expected = Double(keySpace.count) / Double(count + 1)
            #expect(abs(Double(moved) - expected) <= 0.10 * expected, "S = \(count): moved \(moved), expected \(expected)")
            #expect(ring.load(of: newcomer) == moved)
        }
    }

    @Test("a leave moves only the leaving server's keys, each to its first successor")
    func leaveMovesOnlyTheLeaversKeys() {
        for count in 2...32 {
            let base = HashRing(servers: ids(count), keySpace: KeyRange(0, 1 << 40))
            for leaver in base.servers {
                var ring = base
                let heirs = base.tokens.indices.map { base.successors(ofTokenAt: $0, count: 1).first }
                ring.remove(leaver)
                checkStructure(ring)
                #expect(!ring.servers.contains(leaver))
                #expect(ring.tokens.map(\.position) == base.tokens.map(\.position))
                for index in base.tokens.indices {
                    let expected = base.tokens[index].owner == leaver ? heirs[index]! : base.tokens[index].owner
                    #expect(ring.tokens[index].owner == expected)
                }
                #expect(ring.load(of: leaver) == 0)
            }
        }
    }

    @Test("after a death, a rebalance brings the busiest back within 1.10× the mean, moving keys only from busy to light servers")
    func rebalanceAfterDeath() {
        for count in 3...32 {
            var ring = HashRing(servers: ids(count), keySpace: KeyRange(0, 1 << 40))
            ring.remove(NodeID(UInt32(1 + count / 2)))
            let before = ring
            let mean = (1 << 40) / UInt64(count - 1)
            let moved = ring.rebalance()
            checkStructure(ring)
            #expect(imbalance(ring) <= 1.10, "S = \(count): \(imbalance(ring))")
            #expect(moved == (imbalance(before) > 1.05))
            for piece in overlay(before.segments, ring.segments) where piece.old != piece.new {
                #expect(before.load(of: piece.old) > mean && before.load(of: piece.new) < mean)
            }
            #expect(ring.rebalance() == false)
        }
    }

    @Test("the owner lookup agrees with the segment table for random keys")
    func ownerLookupAgreesWithRanges() {
        var random = SplitMix64(seed: 7)
        for count in [1, 2, 3, 7, 32] {
            var ring = HashRing(servers: ids(count), keySpace: KeyRange(0, 1_000_003))
            if count > 2 { ring.remove(NodeID(2)) }
            let segments = ring.segments
            for _ in 0..<2_000 {
                let key = random.next() % 1_000_003
                let owner = ring.owner(of: key)
                #expect(owner == segments.first { $0.range.contains(key) }?.owner)
                #expect(ring.ranges(of: owner!).contains { $0.contains(key) })
            }
            #expect(ring.owner(of: 1_000_003) == nil)
            #expect(ring.owner(of: 0) == segments[0].owner)
            #expect(ring.owner(of: 1_000_002) == segments.last!.owner)
        }
        #expect(HashRing().owner(of: 5) == nil)
    }

    @Test("a server's ranges are sorted, disjoint and merged")
    func rangesAreSortedDisjointMerged() {
        var ring = HashRing(servers: ids(9), keySpace: KeyRange(0, 1 << 32), virtualNodes: 8)
        ring.remove(NodeID(4))
        ring.remove(NodeID(7))
        for server in ring.servers {
            let ranges = ring.ranges(of: server)
            for index in ranges.indices.dropFirst() {
                #expect(ranges[index - 1].upperBound < ranges[index].lowerBound)
            }
            #expect(ranges.reduce(0) { $0 + $1.count } == ring.load(of: server))
        }
    }

    @Test("successors are k distinct servers other than the owner, the nearest clockwise first")
    func successorsAreDistinct() {
        for count in 1...12 {
            let ring = HashRing(servers: ids(count), keySpace: KeyRange(0, 1 << 30), virtualNodes: 8)
            for segment in ring.segments {
                for k in 0...4 {
                    let successors = ring.successors(of: segment.range, count: k)
                    #expect(successors.count == min(k, count - 1))
                    #expect(Set(successors).count == successors.count)
                    #expect(!successors.contains(segment.owner))
                    if k > 0, count > 1 {
                        // The first successor owns the next segment whose owner differs.
                        let after = ring.segments.drop { $0.range.upperBound <= segment.range.lowerBound }.dropFirst()
                            + ring.segments
                        #expect(successors[0] == after.first { $0.owner != segment.owner }!.owner)
                    }
                }
            }
        }
    }

    @Test("the ring is a function of the join and leave order")
    func deterministic() {
        var a = HashRing(servers: ids(6), keySpace: KeyRange(0, 99_991))
        var b = HashRing(servers: ids(6), keySpace: KeyRange(0, 99_991))
        a.remove(NodeID(3))
        b.remove(NodeID(3))
        a.add(NodeID(40))
        b.add(NodeID(40))
        #expect(a == b)
        #expect(HashRing(servers: ids(6).reversed(), keySpace: KeyRange(0, 99_991)) != HashRing(servers: ids(6), keySpace: KeyRange(0, 99_991)))
    }

    @Test("seeded joins and leaves keep the structure and never move keys between bystanders")
    func randomChanges() {
        for seed in 0..<40 as Range<UInt64> {
            var random = SplitMix64(seed: seed)
            var ring = HashRing(servers: ids(3), keySpace: KeyRange(0, 1 + random.next() % (1 << 36)), virtualNodes: 1 + Int(random.next() % 40))
            var next: UInt32 = 10
            for _ in 0..<30 {
                let before = ring.segments
                if ring.servers.count < 2 || (ring.servers.count < 20 && random.next() % 2 == 0) {
                    let server = NodeID(next)
                    next += 1
                    ring.add(server)
                    for piece in overlay(before, ring.segments) where piece.old != piece.new { #expect(piece.new == server) }
                } else {
                    let server = ring.servers[Int(random.next() % UInt64(ring.servers.count))]
                    ring.remove(server)
                    for piece in overlay(before, ring.segments) where piece.old != piece.new { #expect(piece.old == server) }
                }
                checkStructure(ring)
            }
        }
    }

    @Test("a key space smaller than the servers leaves the late joiners without keys, never a crash")
    func tinyKeySpace() {
        let ring = HashRing(servers: ids(5), keySpace: KeyRange(0, 3))
        checkStructure(ring)
        #expect(ring.servers.count == 5)
        #expect(ring.tokens.count <= 3)
    }
}
