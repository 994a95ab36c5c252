import Testing

@testable import ParameterServer

/// The topology's `peer_limits` section: each limit read into ``PeerLimits``, the rest left at
/// their defaults, and a limit that is not a positive integer refused with its path.
@Suite("Topology peer limits")
struct TopologyPeerLimitsTests {
    static func yaml(_ limits: String) -> String {
        """
        name: limits
        servers: { count: 1 }
        workers: { count: 1 }
        tables: [{ name: w }]
        application: { kind: pushpull }
        \(limits)
        """
    }

    @Test("given limits are read, the others keep their defaults, and a node's settings carry them")
    func readsLimits() throws {
        let topology = try Topology.parse(
            yaml: Self.yaml("peer_limits: { send_hwm: 50, reply_bytes: 1048576, unknown_sender_requests: 7 }"), file: "limits.yaml")
        var expected = PeerLimits.default
        expected.sendHighWaterMark = 50
        expected.replyBytesPerPeer = 1_048_576
        expected.unknownSenderRequests = 7
        #expect(topology.peerLimits == expected)
        #expect(try Topology.parse(yaml: Self.yaml(""), file: "limits.yaml").peerLimits == .default)
    }

    @Test("a limit of 0, a negative one, a high-water mark beyond Int32 and an unknown key are refused with their path")
    func refusesBadLimits() {
        let cases: [(String, String)] = [
            ("peer_limits: { held_requests: 0 }", "peer_limits.held_requests"),
            ("peer_limits: { unknown_sender_bytes: -5 }", "peer_limits.unknown_sender_bytes"),
            ("peer_limits: { send_hwm: 4294967296 }", "peer_limits.send_hwm"),
            ("peer_limits: { reply_byte: 10 }", "peer_limits.reply_byte"),
        ]
        for (text, path) in cases {
            do {
                _ = try Topology.parse(yaml: Self.yaml(text), file: "limits.yaml")
                Issue.record("\(text) was accepted")
            } catch {
                #expect(error.path == path, "\(text): \(error)")
            }
        }
        #expect(PeerLimits(replyBytesPerPeer: 0).validateError?.field == "reply_bytes")
    }
}

extension PeerLimits {
    var validateError: WireError? {
        do {
            try validate()
            return nil
        } catch {
            return error
        }
    }
}
