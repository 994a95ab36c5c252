import Foundation
import Testing
import ZeroMQ

/// A CURVE server ROUTER and its context's ZAP handler, pumped on the test's thread.
private struct CurveServer: ~Copyable {
    let context: Context
    var handler: ZAPHandler
    let router: Socket
    let endpoint: String
    let keyPair: CurveKeyPair

    init(allowing allowed: Set<CurveKey>) throws {
        let context = try Context()
        let keyPair = try CurveKeyPair.generate()
        let handler = try ZAPHandler(context: context, allowedClients: allowed)
        let router = try Socket(.router, context: context)
        try prepare(router)
        try router.makeCurveServer(keyPair: keyPair)
        endpoint = try router.bind(to: "tcp://127.0.0.1:0")
        self.context = context
        self.keyPair = keyPair
        self.handler = handler
        self.router = router
    }

    /// A DEALER of the server's context with routing id `id`, connected as a CURVE client with
    /// `keyPair` to a server it believes has `serverKey`, or in plaintext when `keyPair` is nil.
    func dealer(id: String, keyPair: CurveKeyPair?, serverKey: CurveKey? = nil) throws -> Socket {
        let dealer = try Socket(.dealer, context: context)
        try prepare(dealer)
        try dealer.set(.routingID, to: Array(id.utf8))
        if let keyPair { try dealer.makeCurveClient(keyPair: keyPair, serverKey: serverKey ?? self.keyPair.publicKey) }
        try dealer.connect(to: endpoint)
        return dealer
    }

    /// Answers ZAP requests and collects the ROUTER's messages until `count` arrived or `seconds` passed.
    mutating func receive(count: Int, within seconds: Double) throws -> [[Frame]] {
        var messages: [[Frame]] = []
        let deadline = Date().addingTimeInterval(seconds)
        while messages.count < count && Date() < deadline {
            try handler.answerPending()
            if let message = try router.receiveMultipart(dontWait: true) {
                messages.append(message)
            } else {
                usleep(2_000)
            }
        }
        return messages
    }

    consuming func close() throws {
        router.close()
        handler.close()
        try context.terminate()
    }
}

@Suite("CurveZMQ: keys, the ZAP allow-list, the peer's key on every message")
struct CurveTests {
    @Test("libzmq on this machine has CURVE")
    func curveSupported() {
        #expect(CurveKeyPair.isSupported)
    }

    @Test("Z85 text round-trips; wrong lengths and characters outside the alphabet are refused")
    func z85RoundTrip() throws {
        let pair = try CurveKeyPair.generate()
        let text = pair.publicKey.z85
        #expect(text.utf8.count == 40)
        #expect(CurveKey(z85: text) == pair.publicKey)
        #expect(CurveKey(bytes: pair.publicKey.bytes) == pair.publicKey)
        // RFC 32's test vector: 8 bytes as "HelloWorld"; a key is four times that shape.
        let hello: [UInt8] = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]
        let key = try #require(CurveKey(z85: String(repeating: "HelloWorld", count: 4)))
        #expect(key.bytes == hello + hello + hello + hello)
        #expect(key.z85 == String(repeating: "HelloWorld", count: 4))
        #expect(CurveKey(z85: String(text.dropLast())) == nil)
        #expect(CurveKey(z85: String(text.dropLast()) + "~") == nil)
        #expect(CurveKey(z85: String(text.dropLast()) + "\"") == nil)
        // Five characters worth more than 2^32 - 1.
        #expect(CurveKey(z85: "#####" + String(text.dropFirst(5))) == nil)
        #expect(CurveKey(bytes: [UInt8](repeating: 1, count: 31)) == nil)
    }

    @Test("the public key derived from a secret key is the generated one; a secret key never shows")
    func derivedPublicKey() throws {
        let pair = try CurveKeyPair.generate()
        let derived = try CurveKeyPair(secretKey: pair.secretKey)
        #expect(derived.publicKey == pair.publicKey)
        #expect(CurveSecretKey(z85: pair.secretKey.z85) == pair.secretKey)
        #expect("\(pair.secretKey)" == "<curve secret key>")
        #expect(!"\(pair)".contains(pair.secretKey.z85))
    }

    @Test("a client with an allowed key talks; each frame carries its public key as User-Id")
    func allowedClientTalks() throws {
        let client = try CurveKeyPair.generate()
        var server = try CurveServer(allowing: [client.publicKey])
        let dealer = try server.dealer(id: "allowed", keyPair: client)
        #expect(try dealer.send([Frame(string: "header"), Frame(string: "payload")]))
        let messages = try server.receive(count: 1, within: 10)
        #expect(messages.count == 1)
        let message = try #require(messages.first)
        #expect(message.count == 3)
        #expect(message[0].bytes == Array("allowed".utf8))
        #expect(message[1] == Frame(string: "header"))
        #expect(message[0].curvePublicKey == client.publicKey)
        #expect(message[1].curvePublicKey == client.publicKey)
        #expect(message[2].property("User-Id") == client.publicKey.z85)
        #expect(server.handler.admitted == 1)
        #expect(server.handler.refused == 0)

        // The reply reaches the client, which sees no User-Id: it is not the ZAP side.
        #expect(try server.router.send([message[0], Frame(string: "reply")]))
        let reply = try #require(try dealer.receiveMultipart())
        #expect(reply == [Frame(string: "reply")])
        #expect(reply[0].curvePublicKey == nil)
        dealer.close()
        try server.close()
    }

    @Test("a client with an unknown key is refused by ZAP and delivers nothing; an allowed one still gets through")
    func unknownKeyRefused() throws {
        let allowed = try CurveKeyPair.generate()
        let stranger = try CurveKeyPair.generate()
        var server = try CurveServer(allowing: [allowed.publicKey])
        let intruder = try server.dealer(id: "stranger", keyPair: stranger)
        #expect(try intruder.send([Frame(string: "forged")]))
        #expect(try server.receive(count: 1, within: 1.5).isEmpty)
        #expect(server.handler.refused >= 1)
        #expect(server.handler.admitted == 0)

        let friend = try server.dealer(id: "friend", keyPair: allowed)
        #expect(try friend.send([Frame(string: "genuine")]))
        let messages = try server.receive(count: 2, within: 1.5)
        #expect(messages.map { $0.map(\.bytes) } == [[Array("friend".utf8), Array("genuine".utf8)]])
        #expect(server.handler.admitted == 1)
        intruder.close()
        friend.close()
        try server.close()
    }

    @Test("a plaintext client, or one that expects another server key, fails the handshake before ZAP")
    func plaintextAndWrongServerKeyRefused() throws {
        let client = try CurveKeyPair.generate()
        let impostorServer = try CurveKeyPair.generate()
        var server = try CurveServer(allowing: [client.publicKey])
        let plaintext = try server.dealer(id: "plaintext", keyPair: nil)
        let misled = try server.dealer(id: "misled", keyPair: client, serverKey: impostorServer.publicKey)
        #expect(try plaintext.send([Frame(string: "plain")]))
        #expect(try misled.send([Frame(string: "misled")]))
        #expect(try server.receive(count: 1, within: 1.5).isEmpty)
        #expect(server.handler.admitted == 0)
        #expect(server.handler.refused == 0)

        let good = try server.dealer(id: "good", keyPair: client)
        #expect(try good.send([Frame(string: "good")]))
        let messages = try server.receive(count: 2, within: 1.5)
        #expect(messages.map { $0.map(\.bytes) } == [[Array("good".utf8), Array("good".utf8)]])
        plaintext.close()
        misled.close()
        good.close()
        try server.close()
    }

    @Test("a second ZAP handler in one context fails with addressInUse; a plaintext frame has no key")
    func oneHandlerPerContext() throws {
        let context = try Context()
        let handler = try ZAPHandler(context: context, allowedClients: [])
        let second = #expect(throws: ZMQError.self) { _ = try ZAPHandler(context: context, allowedClients: []) }
        #expect(second?.kind == .addressInUse)
        handler.close()
        try context.terminate()

        try withRouterAndDealer { router, dealer in
            #expect(try dealer.send([Frame(string: "plain")]))
            let message = try #require(try router.receiveMultipart())
            #expect(message[1].curvePublicKey == nil)
            #expect(message[1].property("User-Id") == nil)
            #expect(Frame(string: "made here").curvePublicKey == nil)
        }
    }
}
