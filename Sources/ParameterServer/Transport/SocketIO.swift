import Foundation
import Logging
import ZeroMQ

/// The sockets of one I/O thread. Lives and dies on that thread.
final class SocketIO: TransportIO {
    /// Holds a socket in a collection; dropping the box closes the socket.
    private final class SocketBox {
        let socket: Socket
        var item = DescriptorPoller.Item?.none
        /// `ZMQ_RCVTIMEO` as last set, in milliseconds (-1: libzmq's default, forever).
        var receiveTimeout: Int32 = -1
        init(_ socket: consuming Socket) { self.socket = socket }
    }

    /// Holds the context's ZAP handler; dropping the box closes its socket. Its requests are
    /// answered at every full poll, which comes at least once a ``TransportSettings/tickInterval``
    /// even while the loop waits on its main socket alone: a new connection may wait that long.
    private final class ZAPBox {
        var handler: ZAPHandler
        var item = DescriptorPoller.Item?.none
        /// Refusals at the last warning: warnings come at 1, 2, 4, 8, … refusals.
        var refusalsWarned = 0
        init(_ handler: consuming ZAPHandler) { self.handler = handler }
    }

    let localEndpoint: String
    /// The routing id every DEALER of this node connects with, so that each ROUTER it reaches
    /// knows it by the same id: what the manager records at registration and the servers check
    /// data requests against (docs/PROTOCOL.md, section 7.8). Random, 16 bytes; the first is never
    /// zero (libzmq reserves ids starting with a zero byte for those it makes up itself).
    let routingID: [UInt8]
    private var router: SocketBox?
    private var wakeUpItem: DescriptorPoller.Item?
    private var zap: ZAPBox?
    private var dealers: [String: SocketBox] = [:]
    private var dealerOrder: [String] = []
    private var lastDealer: (endpoint: String, box: SocketBox)?
    private let context: Context
    private let settings: TransportSettings
    private let logger: Logger
    private var poller = DescriptorPoller()
    private var pollerStale = true
    private(set) var stopRequested = false
    private(set) var wakeUpReady = false
    /// The replies queued per peer of the ROUTER, and those dropped.
    let replyBudget: ReplyBudget

    init(context: Context, bind endpoint: String, settings: TransportSettings, logger: Logger) throws {
        self.context = context
        self.settings = settings
        self.logger = logger
        var generator = SystemRandomNumberGenerator()
        var routingID = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        routingID[0] |= 0x80
        self.routingID = routingID
        if !settings.security.allowsBinding(endpoint) {
            throw ZMQError(
                code: EACCES,
                context: "binding \(endpoint) in plaintext beyond loopback (use CURVE, or security: { insecure: true })")
        }
        // The handler is bound before the ROUTER: a CURVE server without one admits every client.
        if case .curve(let curve) = settings.security {
            zap = ZAPBox(try ZAPHandler(context: context, allowedClients: curve.admittedKeys))
        }
        let router = try Socket(.router, context: context)
        if case .curve(let curve) = settings.security { try router.makeCurveServer(keyPair: curve.clusterKeyPair) }
        // Mandatory: a send to a peer whose queue is full fails with EAGAIN at once (sends never
        // wait, see `sendRouted`), and one to a peer that is gone with EHOSTUNREACH, where libzmq
        // would otherwise drop both silently.
        try router.set(.routerMandatory, to: true)
        try router.set(.sendHighWaterMark, to: Int32(settings.peerLimits.sendHighWaterMark))
        try router.set(.receiveHighWaterMark, to: Int32(settings.peerLimits.receiveHighWaterMark))
        try router.set(.maximumMessageSize, to: settings.maximumMessageBytes)
        // Set now, not only when closing: libzmq's default is to wait forever for a message still
        // queued to a peer that is gone, which blocked the context's termination after a job.
        try router.set(.linger, to: Int32(settings.linger.milliseconds))
        localEndpoint = try router.bind(to: endpoint)
        self.router = SocketBox(router)
        replyBudget = ReplyBudget(limit: settings.peerLimits.replyBytesPerPeer, name: settings.threadName, logger: logger)
    }

    var now: ContinuousClock.Instant { ContinuousClock.now }

    func stop() { stopRequested = true }

    func send(_ frames: [Frame], to peer: PeerAddress) throws {
        switch peer {
        case .routed(let identity):
            guard let router else { return }
            try sendRouted(to: identity, payloadBytes: frames.dropFirst().reduce(0) { $0 + $1.count }) { ledger in
                try router.socket.send(prefix: identity, frames, dontWait: true, ledger: ledger)
            }
            noteSent(router)
        case .endpoint(let endpoint):
            let box = try dealer(for: endpoint)
            try box.socket.send(frames)
            noteSent(box)
        }
    }

    func send(_ header: Header, payload: [Frame], to peer: PeerAddress) throws {
        switch peer {
        case .routed(let identity):
            guard let router else { return }
            try sendRouted(to: identity, payloadBytes: payload.reduce(0) { $0 + $1.count }) { ledger in
                // libzmq refuses a message to a full queue at its first part, the routing id.
                guard try identity.withUnsafeBytes({ identity in try router.socket.send(copying: identity, more: true, dontWait: true) })
                else { return false }
                try HeaderCodec.withEncoded(header) { bytes in _ = try router.socket.send(copying: bytes, more: !payload.isEmpty) }
                try router.socket.send(payload, ledger: ledger)
                return true
            }
            noteSent(router)
        case .endpoint(let endpoint):
            let box = try dealer(for: endpoint)
            try HeaderCodec.withEncoded(header) { bytes in _ = try box.socket.send(copying: bytes, more: !payload.isEmpty) }
            try box.socket.send(payload)
            noteSent(box)
        }
    }

    func replyRoom(for peer: PeerAddress) -> Int? {
        guard case .routed(let identity) = peer else { return nil }
        return replyBudget.room(for: identity)
    }

    /// Sends a message on the ROUTER to `identity` with `send`, which returns false when libzmq
    /// refused it because the peer's queue is at its high-water mark. Such a reply, and one beyond
    /// the peer's byte budget, is dropped and counted (``ReplyBudget``): a peer that does not read
    /// never blocks this thread nor grows this process, and other peers' replies go on.
    private func sendRouted(to identity: [UInt8], payloadBytes: Int, _ send: (SendLedger) throws -> Bool) throws {
        guard let ledger = replyBudget.ledger(for: identity, bytes: payloadBytes) else { return }
        if try !send(ledger) {
            replyBudget.dropped(
                to: identity, bytes: payloadBytes,
                why: "its queue holds \(settings.peerLimits.sendHighWaterMark) messages, the high-water mark")
        }
    }

    /// A send may consume the signal that the socket's descriptor would give for a reply.
    private func noteSent(_ box: SocketBox) {
        if let item = box.item { poller.noteActivity(item) }
    }

    private func dealer(for endpoint: String) throws -> SocketBox {
        // Requests mostly go to the peer of the previous one: a string comparison, not a hash.
        if let last = lastDealer, last.endpoint == endpoint { return last.box }
        if let box = dealers[endpoint] {
            lastDealer = (endpoint, box)
            return box
        }
        let socket = try Socket(.dealer, context: context)
        try socket.set(.sendHighWaterMark, to: 0)
        try socket.set(.receiveHighWaterMark, to: 0)
        try socket.set(.maximumMessageSize, to: settings.maximumMessageBytes)
        try socket.set(.linger, to: Int32(settings.linger.milliseconds))
        try socket.set(.routingID, to: routingID)
        if case .curve(let curve) = settings.security {
            try socket.makeCurveClient(keyPair: curve.clusterKeyPair, serverKey: curve.clusterKeyPair.publicKey)
        }
        try socket.connect(to: endpoint)
        let box = SocketBox(socket)
        dealers[endpoint] = box
        dealerOrder.append(endpoint)
        pollerStale = true
        return box
    }

    /// Waits for input (up to `timeout`) and hands each complete message to `deliver`.
    ///
    /// Before blocking, the sockets that may hold messages (sent on since they were last found
    /// empty) are drained; if that delivered anything the call does not block, since the handler
    /// may have queued work. Each socket is drained in a bounded batch so one busy peer cannot starve
    /// the rest.
    func pollOnce(
        wakeUp: WakeUpSignal, timeout: Duration, deliver: ([Frame], PeerAddress) -> Void
    ) throws {
        try rebuildPollerIfStale(wakeUp: wakeUp)
        replyBudget.forgetIdle(now: now)
        // Rounded up: a timeout under a millisecond that rounded down to 0 would spin until it passed.
        var milliseconds = timeout > .zero ? Int((timeout.milliseconds + 1).clamped(to: 1...1000)) : 0
        if milliseconds > 0 && poller.anySocketMayBeReadable {
            if try drainReadable(deliver) > 0 || stopRequested { milliseconds = 0 }
        }
        if stopRequested { return }
        try poller.wait(timeoutMilliseconds: milliseconds)
        wakeUpReady = wakeUpItem.map { poller.mayBeReadable($0) } ?? false
        _ = try drainReadable(deliver)
    }

    /// Waits up to `timeout` for the next message on `socket` and hands it to `deliver` (see
    /// ``TransportHandler/mainSocket``); other sockets are not looked at.
    ///
    /// For the first ``TransportSettings/effectiveBusyPoll`` of the wait the thread keeps asking the
    /// socket, yielding the CPU between asks, and stops early when `interrupted` says other work
    /// came; then it blocks inside libzmq's receive. Returns false, at once, when there is no such
    /// socket (a DEALER not connected yet).
    func receive(
        waitingOn socket: MainSocket, timeout: Duration, interrupted: () -> Bool, drained: () -> Void,
        deliver: ([Frame], PeerAddress) -> Void
    ) throws -> Bool {
        let box: SocketBox
        switch socket {
        case .router:
            guard let router else { return false }
            box = router
        case .dealer(let endpoint):
            guard let dealer = lastDealer?.endpoint == endpoint ? lastDealer?.box : dealers[endpoint] else { return false }
            box = dealer
        }
        let busyPollEnd = now + min(settings.effectiveBusyPoll, timeout)
        let delivered: Bool
        switch socket {
        case .router:
            let received = try busyPolling(
                box, until: busyPollEnd, timeout: timeout, interrupted: interrupted, drained: drained, dropped: (Frame(), [])
            ) { dontWait throws(ZMQError) in
                try box.socket.receiveEnvelope(dontWait: dontWait, maximumParts: settings.maximumParts + 1)
            }
            delivered = received != nil
            if let (identity, frames) = received, !frames.isEmpty { deliver(frames, .routed(identity.bytes)) }
        case .dealer(let endpoint):
            let received = try busyPolling(
                box, until: busyPollEnd, timeout: timeout, interrupted: interrupted, drained: drained, dropped: []
            ) { dontWait throws(ZMQError) in
                try box.socket.receiveMultipart(dontWait: dontWait, maximumParts: settings.maximumParts + 1)
            }
            delivered = received != nil
            if let frames = received, !frames.isEmpty { deliver(frames, .endpoint(endpoint)) }
        }
        // A receive may have taken the descriptor's signal for the messages behind this one.
        if let item = box.item {
            if delivered { poller.noteActivity(item) } else { poller.noteDrained(item) }
        }
        return true
    }

    /// `receive(true)` (without blocking) again and again until `end`, with a `sched_yield` between
    /// tries so that a thread runnable on this CPU goes first; then, unless `interrupted`, one
    /// `receive(false)` that blocks for the rest of `timeout`. A message that comes while the thread
    /// still polls costs it no sleep and its sender's I/O thread no wake-up of another CPU. A
    /// message of too many frames is dropped and returned as `dropped`.
    private func busyPolling<Received>(
        _ box: SocketBox, until end: ContinuousClock.Instant, timeout: Duration, interrupted: () -> Bool,
        drained: () -> Void, dropped: @autoclosure () -> Received, _ receive: (_ dontWait: Bool) throws(ZMQError) -> Received?
    ) throws -> Received? {
        // A message already queued is handled before the handler hears that the input ran dry.
        if let received = try refusingTooManyParts(dropped(), { () throws(ZMQError) in try receive(true) }) {
            return received
        }
        drained()
        let start = now
        if start < end {
            repeat {
                if let received = try refusingTooManyParts(dropped(), { () throws(ZMQError) in try receive(true) }) {
                    return received
                }
                if interrupted() { return nil }
                sched_yield()
            } while now < end
        }
        let remaining = timeout - (now - start)
        guard remaining > .zero else { return nil }
        // Rounded up like `pollOnce`'s timeout: 0 would not wait at all.
        let milliseconds = Int32((remaining.milliseconds + 1).clamped(to: 1...1000))
        if milliseconds != box.receiveTimeout {
            try box.socket.set(.receiveTimeout, to: milliseconds)
            box.receiveTimeout = milliseconds
        }
        return try refusingTooManyParts(dropped()) { () throws(ZMQError) in try receive(false) }
    }

    private func rebuildPollerIfStale(wakeUp: WakeUpSignal) throws {
        guard pollerStale else { return }
        poller.removeAll()
        wakeUpItem = poller.add(wakeUp)
        if let zap { zap.item = try poller.add(zap.handler.socket) }
        if let router { router.item = try poller.add(router.socket) }
        for endpoint in dealerOrder {
            let box = dealers[endpoint]!
            box.item = try poller.add(box.socket)
        }
        pollerStale = false
    }

    /// Receives from every socket that may be readable, up to a batch each; returns how many
    /// messages it delivered.
    private func drainReadable(_ deliver: ([Frame], PeerAddress) -> Void) throws -> Int {
        var delivered = 0
        if let zap, let item = zap.item, poller.mayBeReadable(item) { try answerAuthentication(zap, item: item) }
        if let router, let item = router.item, poller.mayBeReadable(item) {
            delivered += try drain(item) { try receiveEnvelope(router) } handle: { identity, frames in
                guard !frames.isEmpty else { return }
                deliver(frames, .routed(identity.bytes))
            }
        }
        for endpoint in dealerOrder where !stopRequested {
            guard let box = dealers[endpoint], let item = box.item, poller.mayBeReadable(item) else { continue }
            delivered += try drain(item) { try receive(box) } handle: { deliver($0, .endpoint(endpoint)) }
        }
        return delivered
    }

    /// Receives and handles up to a batch of messages from one socket; returns how many.
    private func drain<Received>(
        _ item: DescriptorPoller.Item, receive: () throws -> Received?, handle: (Received) -> Void
    ) throws -> Int {
        for count in 0..<256 {
            guard let received = try receive() else {
                poller.noteDrained(item)
                return count
            }
            handle(received)
            if stopRequested { return count + 1 }
        }
        return 256
    }

    private func receive(_ box: SocketBox) throws -> [Frame]? {
        try refusingTooManyParts([]) { () throws(ZMQError) in
            try box.socket.receiveMultipart(dontWait: true, maximumParts: settings.maximumParts + 1)
        }
    }

    /// A message from the ROUTER: the sender's routing id and the message's frames.
    private func receiveEnvelope(_ box: SocketBox) throws -> (envelope: Frame, parts: [Frame])? {
        try refusingTooManyParts((Frame(), [])) { () throws(ZMQError) in
            try box.socket.receiveEnvelope(dontWait: true, maximumParts: settings.maximumParts + 1)
        }
    }

    /// What `receive` returns, or `dropped` (and a warning) for a message of too many frames.
    private func refusingTooManyParts<Received>(
        _ dropped: @autoclosure () -> Received, _ receive: () throws(ZMQError) -> Received?
    ) throws -> Received? {
        do {
            return try receive()
        } catch {
            guard error.kind == .messageTooLarge else { throw error }
            logger.warning("dropped a message of more than \(settings.maximumParts) frames")
            return dropped()
        }
    }

    /// Answers the ZAP requests of new connections; refusals are counted and warned about at 1, 2,
    /// 4, 8, … so that a peer retrying every 100 ms does not flood the log.
    private func answerAuthentication(_ zap: ZAPBox, item: DescriptorPoller.Item) throws {
        try zap.handler.answerPending()
        poller.noteDrained(item)
        let refused = zap.handler.refused
        if refused > zap.refusalsWarned, refused & (refused - 1) == 0 {
            zap.refusalsWarned = refused
            logger.warning("\(localEndpoint) refused \(refused) connection(s) so far: client key not allowed, or not CURVE")
        }
    }

    func close() {
        replyBudget.report()
        poller.removeAll()
        for endpoint in dealerOrder {
            if let box = dealers.removeValue(forKey: endpoint) {
                try? box.socket.set(.linger, to: Int32(settings.linger.milliseconds))
            }
        }
        dealerOrder.removeAll()
        lastDealer = nil
        try? router?.socket.set(.linger, to: Int32(settings.linger.milliseconds))
        router = nil
        // After the CURVE sockets: without the handler, libzmq would admit any client.
        zap = nil
    }
}

extension Duration {
    /// The duration in whole milliseconds (rounded down).
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

extension Comparable {
    func clamped(to range: ClosedRange<Self>) -> Self { min(max(self, range.lowerBound), range.upperBound) }
}
