import Foundation
import Logging
import Testing
import ZeroMQ

@testable import ParameterServer

/// A ROUTER never blocks on, nor grows for, a peer that does not read its replies: a reply beyond
/// the peer's high-water mark or byte budget is dropped and counted, every other reply arrives
/// whole, and a peer that reads is not affected.
@Suite("Replies to peers that do not read", .serialized)
struct TransportReplyBudgetTests {
    static let logger = Logger(label: "reply-budget-test") { _ in SwiftLogNoOpLogHandler() }

    /// A transport's sockets on the test thread, and a raw DEALER peer that says hello so that the
    /// ROUTER knows its routing id.
    struct Setup {
        let context: Context
        let io: SocketIO
        let wakeUp: WakeUpSignal

        init(limits: PeerLimits) throws {
            context = try Context()
            var settings = TransportSettings()
            settings.peerLimits = limits
            settings.linger = .zero
            io = try SocketIO(context: context, bind: "tcp://127.0.0.1:*", settings: settings, logger: TransportReplyBudgetTests.logger)
            wakeUp = try WakeUpSignal()
        }

        /// Connects a DEALER with routing id `name` that queues at most `receiveHighWaterMark`
        /// messages and reads nothing until told, and waits until the ROUTER has heard from it.
        func peer(_ name: String, receiveHighWaterMark: Int32) throws -> Socket {
            let socket = try Socket(.dealer, context: context)
            try socket.set(.linger, to: 0)
            try socket.set(.receiveHighWaterMark, to: receiveHighWaterMark)
            try socket.set(.receiveBufferSize, to: 4096)
            try socket.set(.routingID, to: Array(name.utf8))
            try socket.set(.receiveTimeout, to: 2_000)
            try socket.connect(to: io.localEndpoint)
            try socket.send([Frame(string: "hello")])
            var from: PeerAddress?
            let deadline = ContinuousClock.now + .seconds(10)
            while from == nil, ContinuousClock.now < deadline {
                try io.pollOnce(wakeUp: wakeUp, timeout: .milliseconds(50)) { _, peer in from = peer }
            }
            #expect(from == .routed(Array(name.utf8)))
            return socket
        }

        func close() {
            io.close()
            try? context.terminate()
        }
    }

    /// Reads every message `socket` gets until none comes for a second; returns how many.
    static func drain(_ socket: borrowing Socket) throws -> Int {
        try socket.set(.receiveTimeout, to: 1_000)
        var count = 0
        while try socket.receiveMultipart() != nil { count += 1 }
        return count
    }

    @Test("replies of 1 MiB to a peer that does not read stop at the byte budget: sent plus dropped is every reply, and all sent arrive once it reads")
    func byteBudget() throws {
        let limit = 4 << 20
        let setup = try Setup(limits: PeerLimits(replyBytesPerPeer: limit))
        defer { setup.close() }
        let silent = try setup.peer("silent", receiveHighWaterMark: 1)
        let reader = try setup.peer("reader", receiveHighWaterMark: 0)
        let peer = PeerAddress.routed(Array("silent".utf8))
        let readerPeer = PeerAddress.routed(Array("reader".utf8))
        let replies = 200
        let payload = Frame(array: [Float](repeating: 1.5, count: 1 << 18))  // 1 MiB
        var mostQueued = 0
        var readerReceived = 0
        for index in 0..<replies {
            try setup.io.send(Header(kind: .pullReply, requestID: UInt64(index + 1)), payload: [payload], to: peer)
            // The reader has one request in flight at a time, as a client with a window of one.
            try setup.io.send(Header(kind: .pullReply, requestID: UInt64(index + 1)), payload: [payload], to: readerPeer)
            if try reader.receiveMultipart() != nil { readerReceived += 1 }
            mostQueued = max(mostQueued, setup.io.replyBudget.queuedBytes(for: Array("silent".utf8)))
        }
        let dropped = setup.io.replyBudget.droppedReplies
        #expect(dropped > 0, "a peer that reads nothing took \(replies) MiB")
        // A reply is queued only while the peer's queue stays within the budget.
        #expect(mostQueued <= limit)
        // The room left for the peer whose replies were dropped is what its budget leaves; a peer
        // that reads was never dropped to, and any reply goes to it.
        let queued = setup.io.replyBudget.queuedBytes(for: Array("silent".utf8))
        #expect(queued > 0)
        #expect(setup.io.replyRoom(for: peer) == limit - queued)
        #expect(setup.io.replyRoom(for: readerPeer) == nil)
        #expect(setup.io.replyBudget.droppedBytes == dropped * payload.count)
        // The peer that reads got every reply.
        #expect(readerReceived == replies)
        #expect(try Self.drain(reader) == 0)
        // Every reply not dropped arrives, whole and in order, once the silent peer reads.
        #expect(try Self.drain(silent) == replies - dropped)
        // Its queue is empty again: the budget forgets it.
        let deadline = ContinuousClock.now + .seconds(5)
        var recovered = 0
        while setup.io.replyBudget.trackedPeers > 0, ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.11)
            recovered += setup.io.replyBudget.forgetIdle(now: .now)
        }
        #expect(setup.io.replyBudget.trackedPeers == 0)
        #expect(recovered == 1)
        #expect(setup.io.replyRoom(for: peer) == nil)
    }

    @Test("small replies to a peer that does not read stop at the send high-water mark without blocking: sent plus dropped is every reply")
    func highWaterMark() throws {
        let setup = try Setup(limits: PeerLimits(sendHighWaterMark: 10))
        defer { setup.close() }
        let silent = try setup.peer("silent", receiveHighWaterMark: 1)
        let peer = PeerAddress.routed(Array("silent".utf8))
        let replies = 200_000
        let started = ContinuousClock.now
        for index in 0..<replies {
            try setup.io.send(Header(kind: .pushAck, requestID: UInt64(index + 1)), payload: [], to: peer)
        }
        let took = ContinuousClock.now - started
        let dropped = setup.io.replyBudget.droppedReplies
        #expect(dropped > 0, "\(replies) replies took \(took) and none was dropped")
        #expect(setup.io.replyBudget.droppedBytes == 0)
        #expect(try Self.drain(silent) == replies - dropped)
    }
}
