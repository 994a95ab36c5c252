import Testing
@testable import ZeroMQ

@Suite("Frame lifetime under zero-copy sends")
struct FrameLifetimeTests {
    @Test("A frame made from an array outlives the array and the frame while libzmq still holds the message")
    func arrayFrameSurvivesItsScope() throws {
        let keyCount = 100_000
        let context = try Context()
        do {
            let router = try Socket(.router, context: context)
            let dealer = try Socket(.dealer, context: context)
            try prepare(router)
            try prepare(dealer)
            // Connecting before anything is bound: the message waits in libzmq's queue.
            try dealer.connect(to: "inproc://array-lifetime")

            weak var storage: FrameStorage?
            do {
                let keys = (0..<UInt64(keyCount)).map { $0 &* 0x9E37_79B9_7F4A_7C15 }
                let frame = Frame(array: keys)
                storage = frame.storage
                #expect(try dealer.send([Frame(string: "keys"), frame]))
            }
            // Swift no longer references the array or the frame; only libzmq's queued message does.
            #expect(storage != nil)

            try router.bind(to: "inproc://array-lifetime")
            do {
                let message = try #require(try router.receiveMultipart())
                #expect(message.count == 3)
                #expect(message[1] == Frame(string: "keys"))
                #expect(message[2].count == keyCount * 8)
                let allMatch = message[2].withUnsafeBytes { bytes in
                    (0..<keyCount).allSatisfy {
                        bytes.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self) == UInt64($0) &* 0x9E37_79B9_7F4A_7C15
                    }
                }
                #expect(allMatch)
            }
            // The received frame was the last holder: closing its message released the storage.
            #expect(storage == nil)
        }
        try context.terminate()
    }

    @Test("A failed send releases the frame it had retained")
    func failedSendReleases() throws {
        try withRouterAndDealer { router, _ in
            try router.set(.routerMandatory, to: true)
            weak var storage: FrameStorage?
            do {
                let frame = patternFrame(count: 10_000)
                storage = frame.storage
                // Zero-copy first part to an unknown peer: libzmq refuses it, we must close the message.
                #expect(throws: ZMQError.self) { try router.send([frame, Frame(string: "body")]) }
            }
            #expect(storage == nil)
        }
    }

    @Test("A frame over part of an array holds exactly that part, without a copy, and keeps the array alive through a send")
    func arrayRangeFrame() throws {
        let values: [UInt32] = (0..<1000).map { $0 &* 2_654_435_761 }
        let middle = Frame(array: values, range: 250..<750)
        #expect(middle.count == 500 * 4)
        #expect(middle == Frame(array: Array(values[250..<750])))
        values.withUnsafeBytes { whole in
            middle.withUnsafeBytes { part in #expect(part.baseAddress == whole.baseAddress! + 250 * 4) }
        }
        #expect(Frame(array: values, range: 1000..<1000).isEmpty)
        #expect(Frame(array: values, range: 0..<1) == Frame(array: [values[0]]))

        try withRouterAndDealer(bindingTo: "inproc://array-range") { router, dealer in
            weak var storage: FrameStorage?
            do {
                let keys = (0..<UInt64(20_000)).map { $0 &* 3 }
                let tail = Frame(array: keys, range: 10_000..<20_000)
                storage = tail.storage
                #expect(try dealer.send([tail]))
            }
            do {
                let received = try #require(try router.receiveEnvelope())
                #expect(received.parts == [Frame(array: (10_000..<UInt64(20_000)).map { $0 &* 3 })])
            }
            // The received message was the last holder of the array.
            #expect(storage == nil)
        }
    }

    @Test("Frame constructors hold exactly the bytes given")
    func constructors() {
        #expect(Frame().isEmpty)
        #expect(Frame(string: "héllo").bytes == Array("héllo".utf8))
        #expect(Frame(bytes: [1, 2, 3]).bytes == [1, 2, 3])
        #expect(Frame(array: [UInt16(0x0102)]).bytes == [0x02, 0x01])
        let copied = [UInt8](repeating: 9, count: 5).withUnsafeBytes { Frame(copying: $0) }
        #expect(copied == Frame(bytes: [9, 9, 9, 9, 9]))
        #expect(Frame(bytes: [1, 2]) != Frame(bytes: [1, 3]))
        #expect(Frame(bytes: [1, 2]) != Frame(bytes: [1, 2, 3]))
    }
}
