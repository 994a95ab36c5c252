import Testing

@testable import ParameterServer

/// A node gives up on a manager that stopped answering, counting only the time the node itself was
/// running its loop: a node that did not run (paused, starved of CPU, busy with application work on
/// its I/O thread) has not read what the manager sent meanwhile.
@Suite("Manager silence")
struct ManagerSilenceTests {
    typealias Machines = RoleMachineTests

    static let context = "mem://server-0"

    /// Ticks `server` every 100 ms from `from` to `to` (both included); returns the offset of the
    /// tick at which it stopped, `nil` if it kept running.
    static func tick(_ server: ServerCore, from: Duration, to: Duration) -> Duration? {
        var offset = from
        while offset <= to {
            let directives = server.handle(.tick, context: Machines.at(offset, on: context))
            if directives.contains(where: { if case .stop = $0 { true } else { false } }) { return offset }
            offset += .milliseconds(100)
        }
        return nil
    }

    @Test("a running node whose manager answers nothing stops once the heartbeat timeout has passed, naming the manager")
    func silentManagerStopsRunningNode() throws {
        let outcome = NodeOutcome()
        let server = try Machines.registeredServer(outcome: outcome)
        let timeout = Machines.deadlines.heartbeatTimeout
        // Last heard at 1 ms (the node table): still running at the tick at 3 s, 2.999 s later;
        // stopped at the first tick more than the timeout after it.
        #expect(Self.tick(server, from: .milliseconds(100), to: timeout) == nil)
        #expect(Self.tick(server, from: timeout + .milliseconds(100), to: timeout + .milliseconds(500)) == timeout + .milliseconds(100))
        let failure = try #require(outcome.failure)
        #expect(failure.contains("the manager at mem://manager has been silent for 3 s"))
    }

    @Test("a node that did not run for longer than the heartbeat timeout does not blame the manager for what it has not read")
    func ownStallIsNotManagerSilence() throws {
        let outcome = NodeOutcome()
        let server = try Machines.registeredServer(outcome: outcome)
        let timeout = Machines.deadlines.heartbeatTimeout
        #expect(Self.tick(server, from: .milliseconds(100), to: .milliseconds(500)) == nil)
        // No tick for 6 s, twice the timeout: the next one sends a heartbeat instead of stopping.
        let resumed = Duration.milliseconds(6_500)
        let afterStall = try RoleMachineTests.sends(server.handle(.tick, context: Machines.at(resumed, on: Self.context)))
        #expect(afterStall.count == 1)
        #expect(afterStall.first??.header.kind == .heartbeat)
        #expect(outcome.failure == nil)

        // The manager's answer, read after the stall, keeps it running for another timeout.
        let answer = MessageCodec.encode(Message(header: Header(kind: .heartbeat, sender: .manager)))
        _ = server.handle(.received(answer, from: Machines.manager), context: Machines.at(resumed + .milliseconds(10), on: Self.context))
        #expect(Self.tick(server, from: resumed + .milliseconds(100), to: resumed + timeout) == nil)
        #expect(outcome.failure == nil)

        // A manager that stays silent from then on is still noticed, a timeout of running later.
        let stopped = try #require(Self.tick(server, from: resumed + timeout + .milliseconds(100), to: resumed + timeout * 2))
        #expect(stopped > resumed + timeout)
        #expect(outcome.failure?.contains("has been silent") == true)
    }

    @Test("a stall does not reset the silence the node had already listened to: the manager is blamed a timeout of running time after it was last heard")
    func stallDoesNotForgiveEarlierSilence() throws {
        let outcome = NodeOutcome()
        let server = try Machines.registeredServer(outcome: outcome)
        let timeout = Machines.deadlines.heartbeatTimeout
        // 2 s of running with no answer (heard last at 1 ms), then 10 s without running.
        #expect(Self.tick(server, from: .milliseconds(100), to: .seconds(2)) == nil)
        let resumed = Duration.seconds(12)
        #expect(Self.tick(server, from: resumed, to: resumed) == nil)
        // The remaining second of the timeout (less the heartbeat interval a tick gap may take)
        // runs out within about a second of running, not a whole timeout later.
        let stopped = try #require(Self.tick(server, from: resumed + .milliseconds(100), to: resumed + timeout))
        #expect(stopped <= resumed + .milliseconds(1_600))
        #expect(outcome.failure?.contains("has been silent") == true)
    }
}
