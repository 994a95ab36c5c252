import Testing

@testable import ParameterServer

@Suite("Topology durations")
struct TopologyDurationTests {
    @Test(arguments: [
        ("500ms", Duration.milliseconds(500)),
        ("1.5s", .milliseconds(1500)),
        ("10s", .seconds(10)),
        ("2m", .seconds(120)),
        ("1h", .seconds(3600)),
        ("0.25h", .seconds(900)),
        (".5s", .milliseconds(500)),
        ("1m30s", .seconds(90)),
        ("1h2m3s4ms", .milliseconds(3_723_004)),
        ("250us", .microseconds(250)),
        ("7ns", .nanoseconds(7)),
        ("0.1s", .milliseconds(100)),
        ("0s", .zero),
    ])
    func validDurationParses(_ text: String, _ expected: Duration) {
        #expect(DurationText.parse(text) == expected)
    }

    @Test(arguments: [
        "", "10", "s", "10 s", "10sec", "1.s", "-5s", "+5s", "1.5.2s", "ten seconds", "5d", "1e3ms", "10S",
        "3000000h",  // more than Int64 nanoseconds hold
    ])
    func invalidDurationIsRejected(_ text: String) {
        #expect(DurationText.parse(text) == nil)
    }

    @Test func durationFormatsInTheLargestExactUnit() {
        #expect(DurationText.format(.milliseconds(1500)) == "1500ms")
        #expect(DurationText.format(.seconds(120)) == "2m")
        #expect(DurationText.format(.seconds(7200)) == "2h")
        #expect(DurationText.format(.seconds(90)) == "90s")
        #expect(DurationText.format(.microseconds(3)) == "3us")
        #expect(DurationText.format(.nanoseconds(1_000_001)) == "1000001ns")
        #expect(DurationText.format(.zero) == "0s")
    }

    @Test func formattedDurationParsesBack() {
        for nanoseconds: Int64 in [1, 999, 1_000, 1_500_000, 2_000_000_000, 90_000_000_000, 3_600_000_000_000, 123_456_789_012] {
            let duration = Duration.nanoseconds(nanoseconds)
            #expect(DurationText.parse(DurationText.format(duration)) == duration)
        }
    }

    @Test func deadlinesInATopologyFileUseTheseDurations() throws {
        let topology = try Topology.parse(
            yaml: """
                servers: { count: 1 }
                workers: { count: 1 }
                tables: [{ name: w }]
                deadlines:
                  startup: 1m30s
                  request: 1.5s
                  heartbeat_interval: 250ms
                  job: 2h
                application: { kind: pushpull }
                """,
            file: "d.yaml")
        #expect(topology.deadlines == Deadlines(
            startup: .seconds(90), request: .milliseconds(1500), barrier: .seconds(120), shutdown: .seconds(10),
            heartbeatInterval: .milliseconds(250), heartbeatTimeout: .seconds(5), job: .seconds(7200)))
    }
}
