import Dispatch
import Testing
import ZeroMQ

@Suite("Poller and wake-up signal")
struct PollerTests {
    @Test("A poll blocked on a WakeUpSignal wakes when another thread signals it")
    func wakesFromAnotherThread() throws {
        let signal = try WakeUpSignal()
        var poller = Poller()
        let wakeUp = poller.add(signal)
        #expect(try poller.poll(timeoutMilliseconds: 0) == 0)

        DispatchQueue.global().async { signal.signal() }
        // Far longer than the signal takes; if the poll timed out instead, nothing would be ready.
        #expect(try poller.poll(timeoutMilliseconds: 30_000) == 1)
        #expect(poller.readyEvents(wakeUp) == .readable)

        signal.drain()
        #expect(try poller.poll(timeoutMilliseconds: 0) == 0)
        #expect(poller.readyEvents(wakeUp).isEmpty)
    }

    @Test("Many signals from many threads coalesce into one wake-up that one drain clears")
    func signalsCoalesce() throws {
        let signal = try WakeUpSignal()
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<1000 { signal.signal() }
        }
        var poller = Poller()
        let wakeUp = poller.add(fileDescriptor: signal.fileDescriptor, events: .readable)
        #expect(try poller.poll(timeoutMilliseconds: 0) == 1)
        #expect(poller.readyEvents(wakeUp) == .readable)
        signal.drain()
        #expect(try poller.poll(timeoutMilliseconds: 0) == 0)
        signal.drain()  // draining an empty signal does not block
        signal.signal()
        #expect(try poller.poll(timeoutMilliseconds: 0) == 1)
    }

    @Test("An I/O loop polls a socket and a wake-up signal together and sees exactly which is ready")
    func socketsAndSignal() throws {
        let signal = try WakeUpSignal()
        try withRouterAndDealer { router, dealer throws in
            var poller = Poller()
            let incoming = poller.add(router, events: .readable)
            let outgoing = poller.add(dealer, events: [])
            let wakeUp = poller.add(signal)
            #expect(poller.count == 3)
            #expect(try poller.poll(timeoutMilliseconds: 0) == 0)

            #expect(try dealer.send(Frame(string: "request")))
            #expect(try poller.poll(timeoutMilliseconds: 30_000) == 1)
            #expect(poller.readyEvents(incoming) == .readable)
            #expect(poller.readyEvents(wakeUp).isEmpty)
            #expect(try router.receiveMultipart() == [Frame(bytes: dealerID), Frame(string: "request")])

            signal.signal()
            poller.setEvents(.writable, for: outgoing)
            #expect(try poller.poll(timeoutMilliseconds: 30_000) == 2)
            #expect(poller.readyEvents(incoming).isEmpty)
            #expect(poller.readyEvents(outgoing) == .writable)
            #expect(poller.readyEvents(wakeUp) == .readable)
            signal.drain()

            poller.removeAll()
            #expect(poller.count == 0)
        }
    }

    @Test("DescriptorPoller: one poll(2) over socket descriptors and a signal; a socket is waited on only once drained")
    func descriptorPoller() throws {
        let signal = try WakeUpSignal()
        try withRouterAndDealer(bindingTo: "inproc://descriptor-poller") { router, dealer in
            var poller = DescriptorPoller()
            let incoming = try poller.add(router)
            let wakeUp = poller.add(signal)
            #expect(poller.count == 2)
            // A new socket may hold messages: no wait until a receive found it empty.
            #expect(poller.anySocketMayBeReadable)
            try poller.wait(timeoutMilliseconds: 30_000)
            #expect(poller.mayBeReadable(incoming))
            #expect(try router.receiveMultipart(dontWait: true) == nil)
            poller.noteDrained(incoming)
            #expect(!poller.anySocketMayBeReadable)
            try poller.wait(timeoutMilliseconds: 0)
            #expect(!poller.mayBeReadable(incoming) && !poller.mayBeReadable(wakeUp))

            // A message makes the descriptor signal; the wait ends long before its timeout.
            #expect(try dealer.send([Frame(string: "request")]))
            try poller.wait(timeoutMilliseconds: 30_000)
            #expect(poller.mayBeReadable(incoming))
            #expect(try router.receiveMultipart(dontWait: true) == [Frame(bytes: dealerID), Frame(string: "request")])
            #expect(try router.receiveMultipart(dontWait: true) == nil)
            poller.noteDrained(incoming)

            // The wake-up signal is seen beside the socket.
            DispatchQueue.global().async { signal.signal() }
            try poller.wait(timeoutMilliseconds: 30_000)
            #expect(poller.mayBeReadable(wakeUp))
            #expect(!poller.mayBeReadable(incoming))
            signal.drain()

            // After a send the socket counts as possibly readable again, so a wait returns at once.
            #expect(try router.send([Frame(bytes: dealerID), Frame(string: "reply")]))
            poller.noteActivity(incoming)
            let started = ContinuousClock.now
            try poller.wait(timeoutMilliseconds: 30_000)
            #expect(ContinuousClock.now - started < .seconds(25))
            #expect(poller.mayBeReadable(incoming))
            #expect(try dealer.receiveMultipart() == [Frame(string: "reply")])
        }
    }
}
