import Testing
import ZeroMQ

@Suite("Context lifecycle")
struct ContextTests {
    @Test("Terminating after every socket is closed returns promptly, even with undeliverable messages queued")
    func terminateAfterClosingSockets() throws {
        let context = try Context(options: Context.Options(ioThreads: 2, maximumSockets: 64))
        #expect(context.options.ioThreads == 2)
        do {
            let router = try Socket(.router, context: context)
            let dealer = try Socket(.dealer, context: context)
            try router.bind(to: "tcp://127.0.0.1:0")
            // Port 1 on loopback refuses connections, so these messages can never leave.
            try dealer.connect(to: "tcp://127.0.0.1:1")
            for index in 0..<10 {
                #expect(try dealer.send([Frame(string: "stuck \(index)"), patternFrame(count: 4096)], dontWait: true))
            }
            // The ordered shutdown: linger first, then close every socket.
            try router.set(.linger, to: 0)
            try dealer.set(.linger, to: 0)
            router.close()
            dealer.close()
        }
        #expect(context.isTerminated == false)
        let finished = finishesOnAnotherThread(within: 30) {
            do { try context.terminate() } catch { Issue.record("terminate failed: \(error)") }
        }
        #expect(finished)
        #expect(context.isTerminated)
        // A second terminate, and a shutdown afterwards, are harmless.
        try context.terminate()
        context.shutdown()
    }

    @Test("Options outside what libzmq accepts fail with .invalidArgument")
    func invalidOptions() {
        let error = #expect(throws: ZMQError.self) { _ = try Context(options: Context.Options(ioThreads: -1)) }
        #expect(error?.kind == .invalidArgument)
        #expect(error?.context == "zmq_ctx_set(ZMQ_IO_THREADS, -1)")
    }

    @Test("More sockets than maximumSockets fail with .tooManyOpenFiles")
    func socketLimit() throws {
        let context = try Context(options: Context.Options(maximumSockets: 1))
        do {
            let first = try Socket(.pair, context: context)
            let error = #expect(throws: ZMQError.self) { _ = try Socket(.pair, context: context) }
            #expect(error?.kind == .tooManyOpenFiles)
            #expect(first.type == .pair)
        }
        try context.terminate()
    }
}
