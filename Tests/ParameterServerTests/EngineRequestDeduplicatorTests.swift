import Testing
@testable import ParameterServer

@Suite("RequestDeduplicator")
struct EngineRequestDeduplicatorTests {
    typealias Deduplicator = RequestDeduplicator<String, String>
    let worker = NodeID(5)
    let other = NodeID(6)

    @Test func inOrderRequestsAreAppliedAtOnce() {
        var deduplicator = Deduplicator()
        #expect(deduplicator.receive(sender: worker, requestID: 1, "a") == [.apply(sender: worker, requestID: 1, "a")])
        #expect(deduplicator.receive(sender: worker, requestID: 2, "b") == [.apply(sender: worker, requestID: 2, "b")])
        // Senders count independently.
        #expect(deduplicator.receive(sender: other, requestID: 1, "x") == [.apply(sender: other, requestID: 1, "x")])
        #expect(deduplicator.nextExpected(from: worker) == 3)
        #expect(deduplicator.nextExpected(from: other) == 2)
    }

    @Test func earlyArrivalsWaitForTheGap() {
        var deduplicator = Deduplicator()
        #expect(deduplicator.receive(sender: worker, requestID: 3, "c") == [.buffer(sender: worker, requestID: 3)])
        #expect(deduplicator.receive(sender: worker, requestID: 2, "b") == [.buffer(sender: worker, requestID: 2)])
        #expect(deduplicator.receive(sender: worker, requestID: 3, "c") == [.dropDuplicate(sender: worker, requestID: 3)])
        #expect(deduplicator.bufferedCount(from: worker) == 2)
        #expect(deduplicator.receive(sender: worker, requestID: 1, "a") == [
            .apply(sender: worker, requestID: 1, "a"),
            .apply(sender: worker, requestID: 2, "b"),
            .apply(sender: worker, requestID: 3, "c"),
        ])
        #expect(deduplicator.bufferedCount(from: worker) == 0)
    }

    @Test func aRefusalAheadUsesUpItsID() {
        var deduplicator = Deduplicator(settings: .init(refusalLimit: 2))
        #expect(deduplicator.receive(sender: worker, requestID: 2, "b") == [.buffer(sender: worker, requestID: 2)])
        var recorded = deduplicator.refuse(sender: worker, requestID: 3, reply: "busy 3")
        #expect(recorded)
        // Not ahead, held already, refused already: nothing recorded.
        recorded = deduplicator.refuse(sender: worker, requestID: 1, reply: "x")
        #expect(!recorded)
        recorded = deduplicator.refuse(sender: worker, requestID: 2, reply: "x")
        #expect(!recorded)
        recorded = deduplicator.refuse(sender: worker, requestID: 3, reply: "x")
        #expect(!recorded)
        #expect(deduplicator.isWaiting(sender: worker, requestID: 2) && deduplicator.isWaiting(sender: worker, requestID: 3))
        #expect(!deduplicator.isWaiting(sender: worker, requestID: 4))
        // A copy of the refused id gets its reply again.
        #expect(deduplicator.receive(sender: worker, requestID: 3, "c") == [.replyAgain(sender: worker, requestID: 3, "busy 3")])
        recorded = deduplicator.refuse(sender: worker, requestID: 5, reply: "busy 5")
        #expect(recorded)
        // The limit of refusals waiting: the third is not recorded.
        recorded = deduplicator.refuse(sender: worker, requestID: 7, reply: "busy 7")
        #expect(!recorded)
        #expect(deduplicator.refusedCount(from: worker) == 2)
        #expect(deduplicator.receive(sender: worker, requestID: 4, "d") == [.buffer(sender: worker, requestID: 4)])
        // The gap fills: 1, 2 and 4 are applied, the sequence passes 3 and 5.
        #expect(deduplicator.receive(sender: worker, requestID: 1, "a") == [
            .apply(sender: worker, requestID: 1, "a"),
            .apply(sender: worker, requestID: 2, "b"),
            .apply(sender: worker, requestID: 4, "d"),
        ])
        #expect(deduplicator.nextExpected(from: worker) == 6)
        #expect(deduplicator.refusedCount(from: worker) == 0)
        #expect(deduplicator.receive(sender: worker, requestID: 5, "e") == [.replyAgain(sender: worker, requestID: 5, "busy 5")])
        #expect(deduplicator.receive(sender: worker, requestID: 6, "f") == [.apply(sender: worker, requestID: 6, "f")])
    }

    @Test func anInOrderRequestPassesTheRefusalsBehindIt() {
        var deduplicator = Deduplicator()
        // A sender never heard from: its first id ahead of the sequence is refused.
        var recorded = deduplicator.refuse(sender: worker, requestID: 2, reply: "busy 2")
        #expect(recorded)
        // The next expected id, nothing held: used up at once.
        recorded = deduplicator.refuse(sender: other, requestID: 1, reply: "busy 1")
        #expect(recorded)
        #expect(deduplicator.nextExpected(from: other) == 2)
        #expect(deduplicator.receive(sender: other, requestID: 1, "x") == [.replyAgain(sender: other, requestID: 1, "busy 1")])
        recorded = deduplicator.refuse(sender: other, requestID: 1, reply: "again")
        #expect(!recorded)
        recorded = deduplicator.acceptInOrder(sender: worker, requestID: 1, reply: "ack 1")
        #expect(recorded)
        #expect(deduplicator.nextExpected(from: worker) == 3)
        #expect(deduplicator.receive(sender: worker, requestID: 2, "b") == [.replyAgain(sender: worker, requestID: 2, "busy 2")])
        #expect(deduplicator.receive(sender: worker, requestID: 1, "a") == [.replyAgain(sender: worker, requestID: 1, "ack 1")])
    }

    @Test func retriesAreAnsweredFromTheReplyCache() {
        var deduplicator = Deduplicator()
        _ = deduplicator.receive(sender: worker, requestID: 1, "a")
        // A retry before the reply exists: the original's reply will answer it.
        #expect(deduplicator.receive(sender: worker, requestID: 1, "a") == [.dropDuplicate(sender: worker, requestID: 1)])
        deduplicator.recordReply(sender: worker, requestID: 1, reply: "ack a")
        #expect(deduplicator.receive(sender: worker, requestID: 1, "a") == [.replyAgain(sender: worker, requestID: 1, "ack a")])
    }

    @Test func theBufferIsBounded() {
        var deduplicator = Deduplicator(settings: .init(bufferLimit: 3))
        for id: UInt64 in 2...4 {
            #expect(deduplicator.receive(sender: worker, requestID: id, "r\(id)") == [.buffer(sender: worker, requestID: id)])
        }
        let refused = deduplicator.receive(sender: worker, requestID: 5, "r5")
        guard case .reject(let error) = refused.first, refused.count == 1 else {
            Issue.record("expected a rejection, got \(refused)")
            return
        }
        #expect(error.code == .bufferFull)
        #expect(error.sender == worker && error.requestID == 5)
        #expect(error.wireError.code == .tooLarge)
        #expect(error.description == "bufferFull for request 5 from node 5: 3 requests are already waiting for request 1; the limit is 3")
        #expect(deduplicator.receive(sender: worker, requestID: 1, "r1").count == 4)
        #expect(deduplicator.receive(sender: worker, requestID: 5, "r5") == [.apply(sender: worker, requestID: 5, "r5")])
    }

    @Test func retriesOlderThanTheWindowAreRefused() {
        var deduplicator = Deduplicator(settings: .init(replyWindow: 2))
        for id: UInt64 in 1...5 {
            _ = deduplicator.receive(sender: worker, requestID: id, "r\(id)")
            deduplicator.recordReply(sender: worker, requestID: id, reply: "ack \(id)")
        }
        #expect(deduplicator.receive(sender: worker, requestID: 4, "r4") == [.replyAgain(sender: worker, requestID: 4, "ack 4")])
        #expect(deduplicator.receive(sender: worker, requestID: 5, "r5") == [.replyAgain(sender: worker, requestID: 5, "ack 5")])
        for id: UInt64 in [1, 3] {
            let refused = deduplicator.receive(sender: worker, requestID: id, "r\(id)")
            guard case .reject(let error) = refused.first else {
                Issue.record("expected a rejection of \(id), got \(refused)")
                continue
            }
            #expect(error.code == .replyExpired)
            #expect(error.wireError.code == .invalidRequest)
        }
        let zero = deduplicator.receive(sender: other, requestID: 0, "r0")
        guard case .reject(let error) = zero.first else {
            Issue.record("expected a rejection of id 0, got \(zero)")
            return
        }
        #expect(error.code == .beforeFirstID)
    }

    @Test func theInOrderShortcutTakesOnlyTheNextIDWithNothingBuffered() {
        var deduplicator = Deduplicator()
        // A sender it has not seen yet goes through `receive`.
        let unknownSender = deduplicator.acceptInOrder(sender: worker, requestID: 1, reply: "ack a")
        #expect(!unknownSender)
        #expect(deduplicator.receive(sender: worker, requestID: 1, "a") == [.apply(sender: worker, requestID: 1, "a")])
        deduplicator.recordReply(sender: worker, requestID: 1, reply: "ack a")
        let next = deduplicator.acceptInOrder(sender: worker, requestID: 2, reply: "ack b")
        #expect(next)
        #expect(deduplicator.nextExpected(from: worker) == 3)
        // Its reply is kept for a retry, as `recordReply` keeps one.
        #expect(deduplicator.receive(sender: worker, requestID: 2, "b") == [.replyAgain(sender: worker, requestID: 2, "ack b")])
        // Neither an id ahead of the sequence nor an old one.
        let ahead = deduplicator.acceptInOrder(sender: worker, requestID: 4, reply: "ack d")
        #expect(!ahead)
        let old = deduplicator.acceptInOrder(sender: worker, requestID: 2, reply: "ack b")
        #expect(!old)
        // Nor the next id while a later one waits: `receive` must release the later one too.
        #expect(deduplicator.receive(sender: worker, requestID: 4, "d") == [.buffer(sender: worker, requestID: 4)])
        let gapBehind = deduplicator.acceptInOrder(sender: worker, requestID: 3, reply: "ack c")
        #expect(!gapBehind)
        #expect(deduplicator.nextExpected(from: worker) == 3)
        #expect(deduplicator.bufferedCount(from: worker) == 1)
    }

    @Test func theInOrderShortcutEvictsRepliesOutsideTheWindow() {
        var deduplicator = Deduplicator(settings: .init(replyWindow: 2))
        _ = deduplicator.receive(sender: worker, requestID: 1, "a")
        deduplicator.recordReply(sender: worker, requestID: 1, reply: "ack a")
        for id: UInt64 in 2...4 {
            let accepted = deduplicator.acceptInOrder(sender: worker, requestID: id, reply: "ack \(id)")
            #expect(accepted)
        }
        #expect(deduplicator.receive(sender: worker, requestID: 3, "c") == [.replyAgain(sender: worker, requestID: 3, "ack 3")])
        let expired = deduplicator.receive(sender: worker, requestID: 2, "b")
        guard case .reject(let error)? = expired.first else {
            Issue.record("request 2 left the window of 2 and should be refused, got \(expired)")
            return
        }
        #expect(error.code == .replyExpired)
    }

    @Test func aForgottenSenderStartsOver() {
        var deduplicator = Deduplicator()
        _ = deduplicator.receive(sender: worker, requestID: 1, "a")
        _ = deduplicator.receive(sender: worker, requestID: 3, "c")
        deduplicator.forget(sender: worker)
        #expect(deduplicator.receive(sender: worker, requestID: 1, "new a") == [.apply(sender: worker, requestID: 1, "new a")])
        #expect(deduplicator.bufferedCount(from: worker) == 0)
    }

    /// Random permutations with duplicates from three senders: every request is applied exactly once,
    /// in id order per sender, and every copy is either dropped (original not answered yet) or
    /// answered with exactly the reply recorded for its original.
    @Test(arguments: 0..<16)
    func duplicatedAndReorderedDeliveriesApplyEachRequestOnce(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        let senders = [NodeID(1), NodeID(2), NodeID(3)]
        let perSender: UInt64 = 200
        var deliveries: [(NodeID, UInt64)] = []
        for sender in senders {
            for id in 1...perSender {
                for _ in 0..<Int.random(in: 1...3, using: &random) { deliveries.append((sender, id)) }
            }
        }
        deliveries.shuffle(using: &random)

        var deduplicator = Deduplicator(settings: .init(bufferLimit: Int(perSender), replyWindow: Int(perSender)))
        var applied: [NodeID: [UInt64]] = [:]
        var answeredAgain = 0
        var dropped = 0
        // Odd seeds try the in-order shortcut first, as a server does; the outcome must be the same.
        let shortcut = seed % 2 == 1
        for (sender, id) in deliveries {
            if shortcut, deduplicator.acceptInOrder(sender: sender, requestID: id, reply: "ack \(sender.rawValue)/\(id)") {
                applied[sender, default: []].append(id)
                continue
            }
            for directive in deduplicator.receive(sender: sender, requestID: id, "\(sender.rawValue)/\(id)") {
                switch directive {
                case .apply(let from, let requestID, let request):
                    #expect(request == "\(from.rawValue)/\(requestID)")
                    applied[from, default: []].append(requestID)
                    deduplicator.recordReply(sender: from, requestID: requestID, reply: "ack \(request)")
                case .replyAgain(let from, let requestID, let reply):
                    #expect(from == sender && requestID == id)
                    #expect(reply == "ack \(sender.rawValue)/\(id)")
                    #expect(applied[sender, default: []].contains(id))
                    answeredAgain += 1
                case .buffer(let from, let requestID):
                    #expect(from == sender && requestID == id)
                case .dropDuplicate(let from, let requestID):
                    #expect(from == sender && requestID == id)
                    #expect(!applied[sender, default: []].contains(id), "an applied request's reply exists")
                    dropped += 1
                case .reject(let error):
                    Issue.record("unexpected rejection: \(error)")
                }
            }
        }
        for sender in senders {
            #expect(applied[sender] == Array(1...perSender))
        }
        #expect(answeredAgain + dropped == deliveries.count - senders.count * Int(perSender))
    }
}
