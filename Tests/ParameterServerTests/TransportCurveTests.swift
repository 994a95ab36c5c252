import Foundation
import Logging
import Synchronization
import Testing
import ZeroMQ

@testable import ParameterServer

/// What a ``KeyRecordingMachine`` saw: per message, its first frame as text and the peer key.
private final class SeenMessages: Sendable {
    let seen = Mutex<[(text: String, key: CurveKey?)]>([])
}

/// A role machine that records, for every message, its first frame and the peer key the shell
/// passed in with it.
private final class KeyRecordingMachine: RoleMachine {
    let log: SeenMessages
    init(log: SeenMessages = SeenMessages()) { self.log = log }

    func handle(_ event: NodeEvent, context: NodeContext, into directives: inout [NodeDirective]) {
        if case .received(let frames, _) = event {
            let text = String(decoding: frames[0].bytes, as: UTF8.self)
            log.seen.withLock { $0.append((text, context.peerPublicKey)) }
        }
    }

    func execute(_ work: (KeyRecordingMachine) -> Void, context: NodeContext, into directives: inout [NodeDirective]) {
        work(self)
    }

    func stopped(error: (any Error)?) {}
}

/// A DEALER kept open in a collection; dropping the box closes it.
private final class DealerBox {
    let socket: Socket
    init(_ socket: consuming Socket) { self.socket = socket }
}

@Suite("Transport under CurveZMQ", .serialized)
struct TransportCurveTests {
    static var logger: Logger {
        var logger = Logger(label: "zps.test.curve")
        logger.logLevel = .critical
        return logger
    }

    /// Waits until `machine` saw `count` messages or 10 s passed; returns what it saw.
    private static func seen(_ machine: SeenMessages, count: Int) async throws -> [(text: String, key: CurveKey?)] {
        let deadline = ContinuousClock.now + .seconds(10)
        while machine.seen.withLock({ $0.count }) < count && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        return machine.seen.withLock { $0 }
    }

    @Test("every message a CURVE ROUTER receives reaches the role with the sender's public key; an unknown key is refused")
    func peerKeyReachesTheRole() async throws {
        let cluster = try CurveKeyPair.generate()
        let client = try CurveKeyPair.generate()
        let stranger = try CurveKeyPair.generate()
        var settings = TransportSettings()
        settings.security = .curve(CurveSettings(clusterKeyPair: cluster, allowedClients: [client.publicKey]))
        let machine = SeenMessages()
        let context = try Context()
        let transport = try ZMQTransport(context: context, bind: "tcp://127.0.0.1:0", settings: settings, logger: Self.logger) {
            RoleShell(KeyRecordingMachine(log: machine))
        }
        let endpoint = try transport.start()

        let peers = try Context()
        var dealers: [DealerBox] = []
        for (text, pair) in [("stranger", stranger), ("client", client), ("cluster", cluster)] {
            let box = DealerBox(try Socket(.dealer, context: peers))
            try box.socket.set(.linger, to: 0)
            try box.socket.makeCurveClient(keyPair: pair, serverKey: cluster.publicKey)
            try box.socket.connect(to: endpoint)
            try box.socket.send([Frame(string: text)])
            dealers.append(box)
            // The stranger goes first and stays connected while the others talk.
            if text == "stranger" { try await Task.sleep(for: .milliseconds(300)) }
        }
        let seen = try await Self.seen(machine, count: 2)
        try await Task.sleep(for: .milliseconds(300))
        let settled = machine.seen.withLock { $0 }
        #expect(seen.count == 2)
        #expect(settled.map(\.text).sorted() == ["client", "cluster"])
        #expect(settled.first { $0.text == "client" }?.key == client.publicKey)
        #expect(settled.first { $0.text == "cluster" }?.key == cluster.publicKey)
        transport.stop()
        await transport.waitUntilFinished()
        dealers.removeAll()
        try peers.terminate()
        try context.terminate()
    }

    @Test("a plaintext transport that must stay on loopback refuses to bind 0.0.0.0, and binds 127.0.0.1")
    func plaintextBeyondLoopbackRefused() throws {
        var settings = TransportSettings()
        settings.security = .plaintext(beyondLoopback: false)
        let context = try Context()
        let refused = try ZMQTransport(context: context, bind: "tcp://0.0.0.0:0", settings: settings, logger: Self.logger) {
            RoleShell(KeyRecordingMachine())
        }
        let error = #expect(throws: ZMQError.self) { _ = try refused.start() }
        #expect(error?.code == EACCES)
        #expect(error?.context == "binding tcp://0.0.0.0:0 in plaintext beyond loopback (use CURVE, or security: { insecure: true })")

        let allowed = try ZMQTransport(context: context, bind: "tcp://127.0.0.1:0", settings: settings, logger: Self.logger) {
            RoleShell(KeyRecordingMachine())
        }
        #expect(try allowed.start().hasPrefix("tcp://127.0.0.1:"))
        allowed.stop()
        try context.terminate()
    }

    @Test("loopback endpoints are told from the rest")
    func loopbackEndpoints() {
        for endpoint in ["tcp://127.0.0.1:7000", "tcp://127.8.9.10:*", "tcp://[::1]:5", "tcp://localhost:1", "tcp://lo:1", "ipc:///tmp/x", "inproc://x"] {
            #expect(EndpointHost.isLoopback(endpoint: endpoint), "\(endpoint)")
        }
        for endpoint in ["tcp://0.0.0.0:7000", "tcp://*:1", "tcp://10.0.0.1:1", "tcp://eth0:1", "tcp://[::]:1", "tcp://127.0.0:1", "tcp://ps.example:1"] {
            #expect(!EndpointHost.isLoopback(endpoint: endpoint), "\(endpoint)")
        }
    }
}
