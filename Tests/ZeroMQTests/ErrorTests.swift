import Testing
import ZeroMQ

@Suite("Typed errors")
struct ErrorTests {
    @Test("A non-blocking receive with nothing queued returns nil, and a direct EAGAIN error matches .again")
    func again() throws {
        try withRouterAndDealer { router, dealer throws in
            #expect(try router.receive(dontWait: true) == nil)
            #expect(try router.receiveMultipart(dontWait: true) == nil)
            #expect(try dealer.receiveMultipart(dontWait: true) == nil)
        }
        let error = ZMQError(code: ZMQError.Code.again.rawValue, context: "zmq_msg_recv(ROUTER)")
        switch error {
        case ZMQError.Code.again: break
        default: Issue.record("EAGAIN did not match .again")
        }
        #expect(error.kind == .again)
        #expect(error.kind != .hostUnreachable)
    }

    @Test("A receive timeout returns nil instead of throwing")
    func receiveTimeout() throws {
        try withRouterAndDealer { router, _ in
            try router.set(.receiveTimeout, to: 1)
            #expect(try router.receiveMultipart() == nil)
        }
    }

    @Test("Connecting to a malformed endpoint or unknown transport fails with a typed error naming the endpoint")
    func badEndpoints() throws {
        let context = try Context()
        do {
            let dealer = try Socket(.dealer, context: context)
            let missingPort = #expect(throws: ZMQError.self) { try dealer.connect(to: "tcp://127.0.0.1") }
            #expect(missingPort?.kind == .invalidArgument)
            #expect(missingPort?.context == "zmq_connect(DEALER, tcp://127.0.0.1)")

            let unknownTransport = #expect(throws: ZMQError.self) { try dealer.connect(to: "carrier-pigeon://coop:1") }
            #expect(unknownTransport?.kind == .protocolNotSupported)
            #expect(unknownTransport?.context.contains("carrier-pigeon://coop:1") == true)
            #expect(unknownTransport?.description.contains("errno \(ZMQError.Code.protocolNotSupported.rawValue)") == true)

            let unbound = #expect(throws: ZMQError.self) { try dealer.disconnect(from: "tcp://127.0.0.1:1") }
            #expect(unbound?.context == "zmq_disconnect(DEALER, tcp://127.0.0.1:1)")
        }
        try context.terminate()
    }

    @Test("Binding an address already bound fails with .addressInUse")
    func addressInUse() throws {
        let context = try Context()
        do {
            let first = try Socket(.router, context: context)
            let second = try Socket(.router, context: context)
            let endpoint = try first.bind(to: "tcp://127.0.0.1:*")
            let error = #expect(throws: ZMQError.self) { try second.bind(to: endpoint) }
            #expect(error?.kind == .addressInUse)
            #expect(error?.context == "zmq_bind(ROUTER, \(endpoint))")
        }
        try context.terminate()
    }

    @Test("A router-mandatory send to an unknown routing id fails with .hostUnreachable")
    func hostUnreachable() throws {
        try withRouterAndDealer { router, dealer in
            try router.set(.routerMandatory, to: true)
            var matched = false
            do {
                try router.send([Frame(string: "nobody"), Frame(string: "hello")])
            } catch ZMQError.Code.hostUnreachable {
                matched = true
            }
            #expect(matched)

            // The router still works for known peers afterwards.
            #expect(try dealer.send(Frame(string: "hi")))
            let request = try #require(try router.receiveMultipart())
            #expect(try router.send([request[0], Frame(string: "back")]))
            #expect(try dealer.receiveMultipart() == [Frame(string: "back")])
        }
    }

    @Test("A blocking receive on another thread fails with .terminated after the context shuts down")
    func terminatedByShutdown() throws {
        let context = try Context()
        let finished = finishesOnAnotherThread(within: 30) {
            do {
                let socket = try Socket(.pull, context: context)
                try socket.set(.linger, to: 0)
                try socket.bind(to: "inproc://shutdown")
                context.shutdown()
                _ = try socket.receive()
                Issue.record("receive returned after shutdown")
            } catch ZMQError.Code.terminated {
                // expected
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
        #expect(finished)
        try context.terminate()
        let late = #expect(throws: ZMQError.self) { _ = try Socket(.pull, context: context) }
        #expect(late?.kind == .terminated)
    }
}
