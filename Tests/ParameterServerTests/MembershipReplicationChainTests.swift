import Testing

@testable import ParameterServer

/// Delivers messages, oldest link first, until nothing is in flight.
private func drain(_ chain: inout ReplicationChain) {
    var steps = 0
    while let link = chain.busyLinks.first {
        _ = chain.deliver(from: link.from, to: link.to)
        #expect(chain.violations() == [])
        steps += 1
        precondition(steps < 100_000, "the chain never quiesces")
    }
}

/// What a quiescent chain must look like: every replica has every update, nothing is pending, and
/// everything the head applied was acknowledged.
private func checkSettled(_ chain: ReplicationChain, seed: UInt64? = nil) {
    guard let head = chain.replicas.first else { return }
    for replica in chain.replicas {
        #expect(replica.history == head.history, "seed \(seed.map(String.init) ?? "-"): \(replica.node)")
        #expect(replica.sent.isEmpty, "seed \(seed.map(String.init) ?? "-"): \(replica.node) still has \(replica.sent)")
    }
    #expect(head.history == Array(1...max(1, head.lastApplied)).filter { $0 <= head.lastApplied })
    #expect(chain.completedThrough == head.lastApplied, "seed \(seed.map(String.init) ?? "-")")
}

private let a = NodeID(1)
private let b = NodeID(2)
private let c = NodeID(3)
private let d = NodeID(4)

@Suite("Membership: replication chain")
struct MembershipReplicationChainTests {
    @Test("an update goes head → middle → tail, the ack comes back, and only then is it complete")
    func normalCase() {
        var chain = ReplicationChain(nodes: [a, b, c])
        let (sequence, first) = chain.applyAtHead()
        #expect(sequence == 1)
        #expect(first == [.forward(1, from: a, to: b)])
        #expect(chain.deliver(from: a, to: b) == [.forward(1, from: b, to: c)])
        #expect(chain.violations() == [])
        #expect(chain.deliver(from: b, to: c) == [.acknowledge(through: 1, from: c, to: b)])
        #expect(chain.replica(b)?.sent == [1])
        #expect(chain.completedThrough == 0)
        #expect(chain.deliver(from: c, to: b) == [.acknowledge(through: 1, from: b, to: a)])
        #expect(chain.deliver(from: b, to: a) == [.complete(through: 1)])
        #expect(chain.completedThrough == 1)
        #expect(chain.isQuiescent)
        checkSettled(chain)
        // A link that carries nothing delivers nothing.
        #expect(chain.deliver(from: a, to: c) == [])
    }

    @Test("a server's own steps: apply, arrivals in order, cumulative acknowledgements, resend, hand-over")
    func replicaSteps() {
        var head = ChainReplica(node: a)
        #expect(head.applyAsHead(forwards: true) == 1)
        #expect(head.applyAsHead(forwards: true) == 2)
        #expect(head.applyAsHead(forwards: true) == 3)
        #expect(head.sent == [1, 2, 3])
        #expect(head.acknowledgedThrough == 0)
        head.receiveAcknowledgement(through: 1)
        #expect(head.sent == [2, 3])
        #expect(head.acknowledgedThrough == 1)
        #expect(head.updatesToResend(successorLastApplied: 2) == [3])

        var middle = ChainReplica(node: b)
        #expect(middle.receiveForward(1, forwards: true) == .applied)
        #expect(middle.receiveForward(1, forwards: true) == .duplicate)
        #expect(middle.receiveForward(3, forwards: true) == .gap(expected: 2))
        #expect(middle.lastApplied == 1)
        #expect(middle.sent == [1])
        #expect(middle.acknowledgementToRepeat(isTail: false) == nil)
        #expect(middle.acknowledgementToRepeat(isTail: true) == 1)
        #expect(middle.becomeTail() == 1)
        #expect(middle.sent == [])

        var oldTail = ChainReplica(node: c, lastApplied: 5)
        #expect(oldTail.handOver(copiedThrough: 3) == [4, 5])
        #expect(oldTail.acknowledgedThrough == 3)
        #expect(oldTail.handOver(copiedThrough: 5) == [])
        var copy = ChainReplica(node: d, lastApplied: 3)
        #expect(copy.receiveForward(4, forwards: false) == .applied)
        #expect(copy.sent == [])
    }

    @Test("a chain of one completes on apply")
    func single() {
        var chain = ReplicationChain(nodes: [a])
        #expect(chain.applyAtHead().directives == [.complete(through: 1)])
        #expect(chain.applyAtHead().directives == [.complete(through: 2)])
        checkSettled(chain)
    }

    @Test("head failure: the successor becomes head; updates it never got are lost and were never acknowledged")
    func headFailure() {
        var chain = ReplicationChain(nodes: [a, b, c])
        _ = chain.applyAtHead()
        _ = chain.deliver(from: a, to: b)
        _ = chain.applyAtHead()  // update 2 dies with the head
        #expect(chain.fail(a) == [.headChanged(b), .complete(through: 0)])
        #expect(chain.violations() == [])
        #expect(chain.replica(b)?.history == [1])
        #expect(chain.applyAtHead().sequence == 2)  // the workers' resend of the lost push
        drain(&chain)
        checkSettled(chain)
        #expect(chain.replica(c)?.history == [1, 2])
    }

    @Test("tail failure: the predecessor becomes tail and acknowledges what it has")
    func tailFailure() {
        var chain = ReplicationChain(nodes: [a, b, c])
        _ = chain.applyAtHead()
        _ = chain.deliver(from: a, to: b)
        #expect(chain.fail(c) == [.tailChanged(b), .acknowledge(through: 1, from: b, to: a)])
        #expect(chain.violations() == [])
        drain(&chain)
        checkSettled(chain)
        #expect(chain.completedThrough == 1)
    }

    @Test("middle failure: the predecessor resends its Sent updates the successor lacks")
    func middleFailure() {
        var chain = ReplicationChain(nodes: [a, b, c])
        for _ in 0..<3 { _ = chain.applyAtHead() }
        _ = chain.deliver(from: a, to: b)
        _ = chain.deliver(from: a, to: b)
        _ = chain.deliver(from: b, to: c)  // c has 1; 2 is on b → c; 3 is on a → b
        #expect(
            chain.fail(b) == [.forward(2, from: a, to: c), .forward(3, from: a, to: c), .acknowledge(through: 1, from: c, to: a)])
        #expect(chain.violations() == [])
        drain(&chain)
        checkSettled(chain)
        #expect(chain.completedThrough == 3)
    }

    @Test("a middle failure that loses the tail's acknowledgement still completes")
    func middleFailureLosesAck() {
        var chain = ReplicationChain(nodes: [a, b, c])
        _ = chain.applyAtHead()
        _ = chain.deliver(from: a, to: b)
        _ = chain.deliver(from: b, to: c)  // c's ack is on c → b
        #expect(chain.fail(b) == [.acknowledge(through: 1, from: c, to: a)])
        drain(&chain)
        checkSettled(chain)
    }

    @Test("a new tail joins after copying the tail's state; updates since the copy are forwarded")
    func joinTail() {
        var chain = ReplicationChain(nodes: [a, b])
        for _ in 0..<3 { _ = chain.applyAtHead() }
        drain(&chain)
        _ = chain.applyAtHead()
        _ = chain.deliver(from: a, to: b)  // b has 1...4; the copy took 1...2
        #expect(chain.joinTail(d, copiedThrough: 2) == [.tailChanged(d), .forward(3, from: b, to: d), .forward(4, from: b, to: d)])
        #expect(chain.violations() == [])
        #expect(chain.nodes == [a, b, d])
        drain(&chain)
        checkSettled(chain)
    }

    @Test("losing every replica, or every full copy while a new tail catches up, loses the range")
    func lost() {
        var chain = ReplicationChain(nodes: [a, b])
        #expect(chain.fail(a) == [.headChanged(b), .complete(through: 0)])
        #expect(chain.fail(b) == [.lost])
        #expect(chain.isLost)

        var catchingUp = ReplicationChain(nodes: [a])
        _ = catchingUp.applyAtHead()
        #expect(catchingUp.joinTail(b, copiedThrough: 0) == [.tailChanged(b), .forward(1, from: a, to: b)])
        #expect(catchingUp.replica(b)?.isCatchingUp == true)
        #expect(catchingUp.violations() == [])
        #expect(catchingUp.fail(a) == [.lost])
        #expect(catchingUp.isLost && catchingUp.isQuiescent)
    }

    @Test("the invariants hold after every event of seeded random runs, and each run settles", arguments: 0..<4)
    func randomRuns(block: Int) {
        var lostRuns = 0
        for seed in UInt64(block * 1_000)..<UInt64(block * 1_000 + 1_000) {
            var random = SplitMix64(seed: seed)
            let length = 1 + Int(random.next() % 4)
            var chain = ReplicationChain(nodes: (1...length).map { NodeID(UInt32($0)) })
            var spare: UInt32 = 10
            for _ in 0..<40 {
                let roll = random.next() % 100
                if roll < 35 {
                    _ = chain.applyAtHead()
                } else if roll < 80 {
                    let links = chain.busyLinks
                    if !links.isEmpty {
                        let link = links[Int(random.next() % UInt64(links.count))]
                        _ = chain.deliver(from: link.from, to: link.to)
                    }
                } else if roll < 90 {
                    let victim = chain.nodes[Int(random.next() % UInt64(chain.replicas.count))]
                    // The fault model: a failure leaves at least one full copy (not a new tail catching up).
                    if chain.replicas.contains(where: { $0.node != victim && !$0.isCatchingUp }) {
                        if chain.fail(victim) == [.lost] { lostRuns += 1 }
                    }
                } else if chain.replicas.count < 5 {
                    let tail = chain.replicas.last!
                    let back = Int(random.next() % UInt64(tail.history.count + 1))
                    let copied = back == tail.history.count ? 0 : tail.history[tail.history.count - 1 - back]
                    _ = chain.joinTail(NodeID(spare), copiedThrough: copied)
                    #expect(chain.replicas.last?.node == NodeID(spare))
                    spare += 1
                }
                let violations = chain.violations()
                #expect(violations == [], "seed \(seed)")
                if !violations.isEmpty { return }
            }
            drain(&chain)
            checkSettled(chain, seed: seed)
        }
        #expect(lostRuns == 0)
    }

    @Test("a middle failure that does not resend Sent is caught by the Inprocess Requests check")
    func plantedSkippedResend() {
        var chain = ReplicationChain(nodes: [a, b, c])
        for _ in 0..<2 { _ = chain.applyAtHead() }
        _ = chain.deliver(from: a, to: b)
        _ = chain.deliver(from: a, to: b)
        _ = chain.deliver(from: b, to: c)
        _ = chain.fail(b)
        #expect(chain.violations() == [])
        // The planted bug: the predecessor forgets to resend.
        chain.inFlight[ReplicationChain.Link(from: a, to: c)] = nil
        let violations = chain.violations()
        #expect(violations.map(\.rule) == [.inprocessRequests])
        #expect(violations.first?.node == c)
    }

    @Test("planted bugs in acknowledgement are caught: early completion, Sent dropped too soon, a skipped update")
    func plantedAckBugs() {
        var early = ReplicationChain(nodes: [a, b, c])
        _ = early.applyAtHead()
        early.completedThrough = 1  // the head acknowledged on apply
        #expect(early.violations().map(\.rule) == [.acknowledgedEverywhere, .acknowledgedEverywhere])
        #expect(early.violations().map(\.node) == [b, c])

        var dropped = ReplicationChain(nodes: [a, b, c])
        _ = dropped.applyAtHead()
        _ = dropped.deliver(from: a, to: b)
        dropped.replicas[0].sent = []  // the head forgot an update the tail lacks
        #expect(dropped.violations().map(\.rule) == [.sentList])

        var skipped = ReplicationChain(nodes: [a, b])
        _ = skipped.applyAtHead()
        _ = skipped.applyAtHead()
        skipped.inFlight[ReplicationChain.Link(from: a, to: b)]?.removeFirst()  // the link lost update 1
        _ = skipped.deliver(from: a, to: b)
        // b refuses update 2 (update 1 is missing) and a still has both: the difference is not in flight.
        #expect(skipped.replica(b)?.history == [])
        #expect(skipped.violations().map(\.rule) == [.inprocessRequests])
    }
}
