import Testing
import ZeroMQ

@Suite("Messaging over real sockets")
struct MessagingTests {
    @Test("ROUTER/DEALER multipart round trip keeps every byte, including a 4 MiB zero-copy frame and an empty frame")
    func routerDealerRoundTrip() throws {
        try withRouterAndDealer { router, dealer in
            let header = Frame(string: "header")
            let large = patternFrame(count: 4 << 20)
            let values = Frame(array: (0..<1000).map { Float($0) * 0.5 })
            #expect(large.count > Socket.zeroCopyThreshold)
            #expect(try dealer.send([header, Frame(), large, values]))

            let request = try #require(try router.receiveMultipart())
            #expect(request.count == 5)
            #expect(request[0].bytes == dealerID)
            #expect(request[1] == header)
            #expect(request[2].isEmpty)
            #expect(request[3] == patternFrame(count: 4 << 20))
            #expect(request[4].count == 4000)
            request[4].withUnsafeBytes { bytes in
                #expect(bytes.loadUnaligned(fromByteOffset: 4 * 999, as: Float.self) == 499.5)
            }

            // Reply by forwarding the received frames as they are (zero-copy from a received message).
            #expect(try router.send([request[0], Frame(string: "reply"), request[3], Frame()]))
            let reply = try #require(try dealer.receiveMultipart())
            #expect(reply.map(\.count) == [5, 4 << 20, 0])
            #expect(reply[0] == Frame(string: "reply"))
            #expect(reply[1] == patternFrame(count: 4 << 20))
        }
    }

    @Test("Single-frame send with the more flag builds one message; hasMoreParts reports the boundary")
    func singleFrames() throws {
        try withRouterAndDealer(bindingTo: "inproc://single-frames") { router, dealer in
            #expect(try dealer.send(Frame(string: "a"), more: true))
            #expect(try dealer.send(patternFrame(count: 1000), more: true))
            #expect(try dealer.send(Frame(string: "c")))

            let identity = try #require(try router.receive())
            #expect(identity.bytes == dealerID)
            #expect(try router.hasMoreParts)
            #expect(try router.receive() == Frame(string: "a"))
            #expect(try router.get(.receiveMore))
            #expect(try router.receive() == patternFrame(count: 1000))
            #expect(try router.receive() == Frame(string: "c"))
            #expect(try router.hasMoreParts == false)
            #expect(try router.receive(dontWait: true) == nil)
        }
    }

    @Test("10 000 small messages arrive complete and in order")
    func manySmallMessagesInOrder() throws {
        let messageCount = 10_000
        try withRouterAndDealer { router, dealer in
            // Unlimited queues: everything is sent before anything is received on this one thread.
            try dealer.set(.sendHighWaterMark, to: 0)
            try router.set(.receiveHighWaterMark, to: 0)
            for index in 0..<messageCount {
                let sequence = Frame(array: [UInt32(index)])
                #expect(try dealer.send([Frame(string: "n"), sequence]))
            }
            var received = 0
            var inOrder = true
            while received < messageCount, let parts = try router.receiveMultipart() {
                guard parts.count == 3, parts[1] == Frame(string: "n") else { break }
                let value = parts[2].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
                inOrder = inOrder && value == UInt32(received)
                received += 1
            }
            #expect(received == messageCount)
            #expect(inOrder)
        }
    }

    @Test("A message with more parts than allowed is discarded whole and the next one is intact")
    func maximumParts() throws {
        try withRouterAndDealer(bindingTo: "inproc://maximum-parts") { router, dealer in
            let parts = (0..<6).map { Frame(string: "part \($0)") }
            #expect(try dealer.send(parts))
            #expect(try dealer.send([Frame(string: "next")]))

            // 7 parts arrive at the router (identity + 6); allow 4.
            let error = #expect(throws: ZMQError.self) { try router.receiveMultipart(maximumParts: 4) }
            #expect(error?.kind == .messageTooLarge)
            let next = try #require(try router.receiveMultipart(maximumParts: 4))
            #expect(next == [Frame(bytes: dealerID), Frame(string: "next")])
        }
    }

    @Test("A ROUTER reads the routing id apart from the message and answers with it as a copied first part")
    func envelopeRoundTrip() throws {
        try withRouterAndDealer(bindingTo: "inproc://envelope") { router, dealer in
            let values = Frame(array: (0..<300).map { Float($0) })
            #expect(try dealer.send([Frame(string: "header"), values]))
            let received = try #require(try router.receiveEnvelope())
            #expect(received.envelope.bytes == dealerID)
            #expect(received.parts == [Frame(string: "header"), values])

            #expect(try router.send(prefix: received.envelope.bytes, [Frame(string: "reply"), values]))
            #expect(try dealer.receiveMultipart() == [Frame(string: "reply"), values])
            #expect(try router.receiveEnvelope(dontWait: true) == nil)

            // Limits count the routing id: identity + 6 parts is refused at 4, the next message passes.
            #expect(try dealer.send((0..<6).map { Frame(string: "part \($0)") }))
            #expect(try dealer.send([Frame(string: "next")]))
            let error = #expect(throws: ZMQError.self) { try router.receiveEnvelope(maximumParts: 4) }
            #expect(error?.kind == .messageTooLarge)
            let next = try #require(try router.receiveEnvelope(maximumParts: 4))
            #expect(next.parts == [Frame(string: "next")])
        }
    }

    @Test("PAIR over inproc, PUSH/PULL over tcp and REQ/REP over tcp exchange exact messages")
    func otherSocketTypes() throws {
        let context = try Context()
        do {
            let left = try Socket(.pair, context: context)
            let right = try Socket(.pair, context: context)
            try prepare(left)
            try prepare(right)
            try left.bind(to: "inproc://pair")
            try right.connect(to: "inproc://pair")
            #expect(try left.send([Frame(string: "ping"), patternFrame(count: 300)]))
            #expect(try right.receiveMultipart() == [Frame(string: "ping"), patternFrame(count: 300)])

            let pull = try Socket(.pull, context: context)
            let push = try Socket(.push, context: context)
            try prepare(pull)
            try prepare(push)
            try push.connect(to: try pull.bind(to: "tcp://127.0.0.1:*"))
            #expect(try push.send(Frame(string: "work")))
            #expect(try pull.receive() == Frame(string: "work"))

            let reply = try Socket(.reply, context: context)
            let request = try Socket(.request, context: context)
            try prepare(reply)
            try prepare(request)
            try request.connect(to: try reply.bind(to: "tcp://127.0.0.1:0"))
            #expect(try request.send(Frame(string: "question")))
            // REQ must receive before it sends again.
            let error = #expect(throws: ZMQError.self) { try request.send(Frame(string: "again")) }
            #expect(error?.kind == .finiteStateMachine)
            #expect(try reply.receiveMultipart() == [Frame(string: "question")])
            #expect(try reply.send(Frame(string: "answer")))
            #expect(try request.receiveMultipart() == [Frame(string: "answer")])
        }
        try context.terminate()
    }

    @Test("A subscriber receives only messages with its prefix")
    func publishSubscribe() throws {
        let context = try Context()
        do {
            let publisher = try Socket(.publisher, context: context)
            let subscriber = try Socket(.subscriber, context: context)
            try prepare(publisher)
            try prepare(subscriber)
            try subscriber.subscribe(to: Array("keep".utf8))
            try subscriber.connect(to: try publisher.bind(to: "inproc://publish-subscribe"))
            // The subscription reaches the publisher asynchronously; publish until one arrives.
            var received: [Frame]?
            for round in 0..<10_000 where received == nil {
                try publisher.send(Frame(string: "drop \(round)"))
                try publisher.send([Frame(string: "keep"), Frame(string: "\(round)")])
                received = try subscriber.receiveMultipart(dontWait: true)
            }
            let message = try #require(received)
            #expect(message.count == 2)
            #expect(message.first == Frame(string: "keep"))
            // Everything still queued has the prefix too.
            while let next = try subscriber.receiveMultipart(dontWait: true) {
                #expect(next.first == Frame(string: "keep"))
            }
        }
        try context.terminate()
    }
}
