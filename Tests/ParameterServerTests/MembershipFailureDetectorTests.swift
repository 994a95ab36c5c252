import Testing

@testable import ParameterServer

@Suite("Membership: failure detector")
struct MembershipFailureDetectorTests {
    /// A fixed origin for fake time: only differences from it matter.
    let t0 = ContinuousClock.Instant.now
    func at(_ milliseconds: Int) -> ContinuousClock.Instant { t0 + .milliseconds(milliseconds) }

    @Test("default settings: suspected after 3 missed 50 ms beats, dead after 200 ms")
    func defaults() {
        let settings = FailureDetector.Settings()
        #expect(settings.interval == .milliseconds(50))
        #expect(settings.suspectAfter == .milliseconds(150))
        #expect(settings.timeout == .milliseconds(200))
    }

    @Test("settings from a topology's deadlines")
    func fromDeadlines() {
        let standard = FailureDetector.Settings(deadlines: .standard)
        #expect(standard.interval == Deadlines.standard.heartbeatInterval)
        #expect(standard.suspectAfter == Deadlines.standard.heartbeatInterval * 3)
        #expect(standard.timeout == Deadlines.standard.heartbeatTimeout)
        var tight = Deadlines.standard
        tight.heartbeatInterval = .milliseconds(100)
        tight.heartbeatTimeout = .milliseconds(250)
        let settings = FailureDetector.Settings(deadlines: tight)
        #expect(settings.suspectAfter == .milliseconds(250))
        #expect(settings.timeout == .milliseconds(250))
    }

    @Test("a silent node is suspected and declared dead at exact instants, once")
    func exactInstants() {
        var detector = FailureDetector(settings: .init(interval: .milliseconds(50), missedHeartbeats: 3, timeout: .milliseconds(400)))
        detector.watch(NodeID(1), at: at(0))
        detector.watch(NodeID(2), at: at(0))
        #expect(detector.nextDeadline == at(150))
        for time in stride(from: 0, through: 100, by: 50) {
            #expect(detector.heartbeat(from: NodeID(2), at: at(time)) == [])
        }
        #expect(detector.tick(at: at(149)) == [])
        #expect(detector.tick(at: at(150)) == [.suspect(NodeID(1), silentFor: .milliseconds(150))])
        #expect(detector.status(of: NodeID(1)) == .suspected)
        #expect(detector.tick(at: at(200)) == [])
        #expect(detector.nextDeadline == at(250))  // node 2, heard at 100
        #expect(detector.tick(at: at(250)) == [.suspect(NodeID(2), silentFor: .milliseconds(150))])
        #expect(detector.tick(at: at(399)) == [])
        #expect(detector.tick(at: at(400)) == [.dead(NodeID(1), silentFor: .milliseconds(400))])
        #expect(detector.status(of: NodeID(1)) == nil)
        #expect(detector.tick(at: at(450)) == [])
        #expect(detector.tick(at: at(500)) == [.dead(NodeID(2), silentFor: .milliseconds(400))])
        #expect(detector.nextDeadline == nil)
        #expect(detector.tick(at: at(10_000)) == [])
    }

    @Test("a suspected node that beats again recovers and gets a fresh window")
    func recovery() {
        var detector = FailureDetector()
        detector.watch(NodeID(3), at: at(0))
        #expect(detector.tick(at: at(160)) == [.suspect(NodeID(3), silentFor: .milliseconds(160))])
        #expect(detector.heartbeat(from: NodeID(3), at: at(170)) == [.recovered(NodeID(3))])
        #expect(detector.status(of: NodeID(3)) == .alive)
        #expect(detector.tick(at: at(319)) == [])
        #expect(detector.tick(at: at(320)) == [.suspect(NodeID(3), silentFor: .milliseconds(150))])
        #expect(detector.tick(at: at(370)) == [.dead(NodeID(3), silentFor: .milliseconds(200))])
    }

    @Test("a heartbeat from a dead or unknown node is reported, never revives it")
    func zombies() {
        var detector = FailureDetector()
        detector.watch(NodeID(1), at: at(0))
        #expect(detector.tick(at: at(200)) == [.dead(NodeID(1), silentFor: .milliseconds(200))])
        #expect(detector.heartbeat(from: NodeID(1), at: at(210)) == [.heardFromUnknown(NodeID(1))])
        #expect(detector.heartbeat(from: NodeID(9), at: at(210)) == [.heardFromUnknown(NodeID(9))])
        #expect(detector.nodes.isEmpty)
    }

    @Test("a node that left is forgotten; a late heartbeat does not move time back")
    func forgetAndReordering() {
        var detector = FailureDetector()
        detector.watch(NodeID(1), at: at(0))
        detector.watch(NodeID(2), at: at(0))
        detector.forget(NodeID(1))
        #expect(detector.heartbeat(from: NodeID(2), at: at(100)) == [])
        #expect(detector.heartbeat(from: NodeID(2), at: at(40)) == [])
        #expect(detector.lastHeard(NodeID(2)) == at(100))
        #expect(detector.tick(at: at(300)) == [.dead(NodeID(2), silentFor: .milliseconds(200))])
    }

    @Test("directives come in node order when several nodes fall silent together")
    func ordering() {
        var detector = FailureDetector()
        for id in [7, 3, 5] as [UInt32] { detector.watch(NodeID(id), at: at(0)) }
        #expect(detector.tick(at: at(150)) == [3, 5, 7].map { .suspect(NodeID($0), silentFor: .milliseconds(150)) })
        // A tick that jumps past the timeout goes straight to dead.
        var late = FailureDetector()
        late.watch(NodeID(1), at: at(0))
        #expect(late.tick(at: at(1_000)) == [.dead(NodeID(1), silentFor: .seconds(1))])
    }
}
