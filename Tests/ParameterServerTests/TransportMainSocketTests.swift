import Foundation
import Logging
import Synchronization
import Testing
import ZeroMQ

@testable import ParameterServer

/// A handler that waits on one socket, its ROUTER (as a registered server does) or one DEALER (as a
/// worker with requests in flight to its only server does), still gets what arrives on its other
/// sockets and the work other threads queue: the transport looks at them at least every tick.
/// So it does whether the I/O thread blocks at once, polls a while first, or would poll for
/// longer than a tick (the poll ends with the wait it comes before).
@Suite("Waiting on one socket")
struct TransportMainSocketTests {
    enum Waited: CaseIterable { case router, dealer }

    /// What the handler received, in order, for the test thread to read.
    final class Seen: Sendable {
        let list = Mutex<[String]>([])
        func append(_ text: String) { list.withLock { $0.append(text) } }
        var all: Set<String> { list.withLock { Set($0) } }
    }

    final class RouterWaiter: TransportHandler {
        let seen: Seen
        let dealerPeer: String
        let waited: Waited
        init(seen: Seen, dealerPeer: String, waited: Waited) {
            self.seen = seen
            self.dealerPeer = dealerPeer
            self.waited = waited
        }
        var mainSocket: MainSocket? {
            switch waited {
            case .router: .router
            case .dealer: .dealer(dealerPeer)
            }
        }
        func start(io: any TransportIO) {
            // Opens a DEALER to the test's ROUTER, whose answer must get through.
            try? io.send([Frame(string: "hello")], to: .endpoint(dealerPeer))
        }
        func received(_ frames: [Frame], from peer: PeerAddress, io: any TransportIO) {
            let text = String(decoding: frames.first?.bytes ?? [], as: UTF8.self)
            switch peer {
            case .routed: seen.append("router: \(text)")
            case .endpoint: seen.append("dealer: \(text)")
            }
        }
        func tick(io: any TransportIO) {}
        func stopped(error: (any Error)?) {}
    }

    @Test(arguments: Waited.allCases, [Duration.zero, TransportSettings.defaultBusyPoll, .seconds(1)])
    func otherSocketsAndQueuedWorkStillArrive(waiting waited: Waited, busyPoll: Duration) async throws {
        let logger = Logger(label: "main-socket-test") { _ in SwiftLogNoOpLogHandler() }
        let context = try Context()
        let peerRouter = try Socket(.router, context: context)
        try peerRouter.set(.receiveTimeout, to: 5_000)
        let peerEndpoint = try peerRouter.bind(to: "tcp://127.0.0.1:*")
        let seen = Seen()
        var settings = TransportSettings()
        settings.busyPoll = busyPoll
        let transport = try ZMQTransport(context: context, bind: "tcp://127.0.0.1:*", settings: settings, logger: logger) {
            RouterWaiter(seen: seen, dealerPeer: peerEndpoint, waited: waited)
        }
        let endpoint = try transport.start()

        // The transport's DEALER said hello; the answer comes back on that DEALER.
        let hello = try #require(try peerRouter.receiveMultipart())
        #expect(hello.count == 2 && hello[1].bytes == Array("hello".utf8))
        // Idle for several ticks, the loop now waits on the one socket.
        try await Task.sleep(for: .milliseconds(100))
        try peerRouter.send([hello[0], Frame(string: "from the peer's router")])

        // A request on the transport's ROUTER.
        let client = try Socket(.dealer, context: context)
        try client.connect(to: endpoint)
        try client.send([Frame(string: "request")])

        // Work queued from this thread.
        transport.execute { handler, _ in handler.seen.append("work") }

        let expected: Set = ["dealer: from the peer's router", "router: request", "work"]
        let deadline = ContinuousClock.now + .seconds(10)
        while seen.all != expected, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(seen.all == expected)

        transport.stop()
        await transport.waitUntilFinished()
        try? client.set(.linger, to: 0)
        try? peerRouter.set(.linger, to: 0)
        client.close()
        peerRouter.close()
        try context.terminate()
    }
}
