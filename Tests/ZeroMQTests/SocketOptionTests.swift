import Testing
import ZeroMQ

@Suite("Socket options and endpoints")
struct SocketOptionTests {
    @Test("Options of every value type read back what was set")
    func roundTrips() throws {
        let context = try Context()
        do {
            let socket = try Socket(.dealer, context: context)
            try socket.set(.linger, to: 250)
            #expect(try socket.get(.linger) == 250)
            try socket.set(.sendHighWaterMark, to: 12)
            try socket.set(.receiveHighWaterMark, to: 34)
            #expect(try socket.get(.sendHighWaterMark) == 12)
            #expect(try socket.get(.receiveHighWaterMark) == 34)
            try socket.set(.maximumMessageSize, to: 1 << 33)
            #expect(try socket.get(.maximumMessageSize) == 1 << 33)
            try socket.set(.immediate, to: true)
            #expect(try socket.get(.immediate))
            try socket.set(.tcpKeepAlive, to: 1)
            #expect(try socket.get(.tcpKeepAlive) == 1)
            try socket.set(.sendTimeout, to: 5)
            #expect(try socket.get(.sendTimeout) == 5)
            try socket.set(.receiveBufferSize, to: 1 << 20)
            #expect(try socket.get(.receiveBufferSize) == 1 << 20)
            try socket.set(.routingID, to: [1, 2, 3, 250])
            #expect(try socket.get(.routingID) == [1, 2, 3, 250])
            try socket.set(.zapDomain, to: "global")
            #expect(try socket.get(.zapDomain) == "global")
            #expect(try socket.get(.type) == dealerTypeConstant)
            #expect(try socket.fileDescriptor >= 0)
            #expect(socket.type == .dealer)
        }
        try context.terminate()
    }

    @Test("A write-only option cannot be read")
    func writeOnly() throws {
        let context = try Context()
        do {
            let router = try Socket(.router, context: context)
            try router.set(.routerMandatory, to: true)
            let error = #expect(throws: ZMQError.self) { try router.get(.routerMandatory) }
            #expect(error?.kind == .invalidArgument)
            #expect(error?.context == "zmq_getsockopt(ROUTER, ZMQ_ROUTER_MANDATORY)")
        }
        try context.terminate()
    }

    @Test("Binding port 0 or * returns the ephemeral port chosen, which a peer can reach", arguments: ["tcp://127.0.0.1:0", "tcp://127.0.0.1:*"])
    func ephemeralPort(endpoint: String) throws {
        try withRouterAndDealer(bindingTo: endpoint) { router, dealer in
            let bound = try router.lastEndpoint
            #expect(bound.hasPrefix("tcp://127.0.0.1:"))
            let port = Int(bound.dropFirst("tcp://127.0.0.1:".count))
            #expect(port != nil && port != 0)
            #expect(try dealer.lastEndpoint == bound)
            #expect(try dealer.send(Frame(string: "reached")))
            #expect(try router.receiveMultipart() == [Frame(bytes: dealerID), Frame(string: "reached")])
        }
    }

    @Test("Events report writable and readable; unbind and disconnect undo bind and connect")
    func eventsAndUnbinding() throws {
        try withRouterAndDealer { router, dealer in
            #expect(try dealer.send(Frame(string: "x")))
            _ = try #require(try router.receiveMultipart())
            #expect(try router.events.contains(.readable) == false)
            #expect(try dealer.events.contains(.writable))
            #expect(try router.send([Frame(bytes: dealerID), Frame(string: "y")]))
            var polled = Poller()
            let item = polled.add(dealer, events: .readable)
            #expect(try polled.poll(timeoutMilliseconds: Int(receiveTimeoutMilliseconds)) == 1)
            #expect(polled.readyEvents(item) == .readable)
            #expect(try dealer.events.contains(.readable))

            let endpoint = try router.lastEndpoint
            try dealer.disconnect(from: endpoint)
            try router.unbind(from: endpoint)
            let again = #expect(throws: ZMQError.self) { try router.unbind(from: endpoint) }
            #expect(again?.kind == .notFound)
        }
    }

    @Test("The library version is the installed libzmq 4.x")
    func version() {
        let version = ZeroMQ.version
        #expect(version.major == 4)
        #expect(version >= LibraryVersion(major: 4, minor: 3, patch: 0))
        #expect(version.description == "\(version.major).\(version.minor).\(version.patch)")
    }
}

private let dealerTypeConstant: Int32 = 5  // ZMQ_DEALER
