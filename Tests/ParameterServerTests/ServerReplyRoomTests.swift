import Testing
import ZeroMQ

@testable import ParameterServer

/// A server does not read a pull whose reply the transport would drop (its sender does not read
/// its replies and has less room than the reply): nothing is sent, the pull is counted, and a
/// retry once the sender has room is answered with the exact values.
@Suite("Pulls whose replies would be dropped")
struct ServerReplyRoomTests {
    typealias Machines = RoleMachineTests
    typealias Held = ServerHeldRequestTests

    /// A pull of keys 3 and 7 (2 floats each: a 16-byte reply) from worker 2.
    static func pull(_ requestID: UInt64, retry: Bool = false) -> [Frame] {
        var header = Header(kind: .pull, sender: NodeID(2), requestID: requestID, table: 0, timestamp: Int64(requestID), keyCount: 2, valueLength: 2)
        if retry { header.flags.insert(.retry) }
        return MessageCodec.encode(Message(header: header, keys: Frame(array: [3, 7] as [UInt64])))
    }

    static func context(_ offset: Duration, room: Int?) -> NodeContext {
        var context = Held.at(offset)
        context.replyRoom = room
        return context
    }

    @Test("a pull whose 16-byte reply exceeds the sender's room of 15 is not read; its retry with room is answered exactly; 16 bytes of room fit")
    func pullBeyondRoomIsNotRead() throws {
        let server = try Held.server(limits: PeerLimits())
        #expect(try Held.replies(server.handle(
            .received(Held.push(from: 2, requestID: 1, value: 2.5), from: Held.worker), context: Held.at(.milliseconds(2))))
            == ["pushAck 1"])
        #expect(try Held.replies(server.handle(.received(Self.pull(2), from: Held.worker), context: Self.context(.milliseconds(3), room: 15)))
            .isEmpty)
        #expect(server.skippedReplies == 1)
        // The id is used up: the next pull is served in order, and the retry reads again.
        let next = try Machines.sends(server.handle(.received(Self.pull(3), from: Held.worker), context: Self.context(.milliseconds(4), room: 16)))
        #expect(next.count == 1)
        #expect(next.first??.header.kind == .pullReply && next.first??.header.requestID == 3)
        #expect(next.first??.payload == [Machines.bytes([2.5, 2.5, 2.5, 2.5] as [Float])])
        let retried = try Machines.sends(server.handle(.received(Self.pull(2, retry: true), from: Held.worker), context: Self.context(.milliseconds(5), room: nil)))
        #expect(retried.count == 1)
        #expect(retried.first??.header.kind == .pullReply && retried.first??.header.requestID == 2)
        #expect(retried.first??.payload == [Machines.bytes([2.5, 2.5, 2.5, 2.5] as [Float])])
        // A retry while the sender still lacks room is not read either.
        #expect(try Held.replies(server.handle(.received(Self.pull(2, retry: true), from: Held.worker), context: Self.context(.milliseconds(6), room: 0)))
            .isEmpty)
        #expect(server.skippedReplies == 2)
    }
}
