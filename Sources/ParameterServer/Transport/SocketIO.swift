import Foundation
import Logging
import ZeroMQ

/// The sockets of one I/O thread. Lives and dies on that thread.
final class SocketIO: TransportIO {
    /// Holds a socket in a collection; dropping the box closes the socket.
    private final class SocketBox {
        let socket: Socket
        var item = Poller.Item?.none
        init(_ socket: consuming Socket) { self.socket = socket }
    }

    let localEndpoint: String
    private var router: SocketBox?
    private var wakeUpItem: Poller.Item?
    private var dealers: [String: SocketBox] = [:]
    private var dealerOrder: [String] = []
    private let context: Context
    private let settings: TransportSettings
    private let logger: Logger
    private var poller = Poller()
    private var pollerStale = true
    private(set) var stopRequested = false
    private(set) var wakeUpReady = false

    init(context: Context, bind endpoint: String, settings: TransportSettings, logger: Logger) throws {
        self.context = context
        self.settings = settings
        self.logger = logger
        let router = try Socket(.router, context: context)
        try router.set(.routerMandatory, to: true)
        try router.set(.sendHighWaterMark, to: 0)
        try router.set(.receiveHighWaterMark, to: 0)
        try router.set(.maximumMessageSize, to: settings.maximumMessageBytes)
        localEndpoint = try router.bind(to: endpoint)
        self.router = SocketBox(router)
    }

    var now: ContinuousClock.Instant { ContinuousClock.now }

    func stop() { stopRequested = true }

    func send(_ frames: [Frame], to peer: PeerAddress) throws {
        switch peer {
        case .routed(let identity):
            guard let router else { return }
            var message = [Frame(bytes: identity)]
            message.append(contentsOf: frames)
            try router.socket.send(message)
        case .endpoint(let endpoint):
            try dealer(for: endpoint).socket.send(frames)
        }
    }

    private func dealer(for endpoint: String) throws -> SocketBox {
        if let box = dealers[endpoint] { return box }
        let socket = try Socket(.dealer, context: context)
        try socket.set(.sendHighWaterMark, to: 0)
        try socket.set(.receiveHighWaterMark, to: 0)
        try socket.set(.maximumMessageSize, to: settings.maximumMessageBytes)
        try socket.set(.linger, to: Int32(settings.linger.milliseconds))
        try socket.connect(to: endpoint)
        let box = SocketBox(socket)
        dealers[endpoint] = box
        dealerOrder.append(endpoint)
        pollerStale = true
        return box
    }

    /// Polls every socket once (up to `timeout`) and hands each complete message to `deliver`.
    func pollOnce(
        wakeUp: WakeUpSignal, timeout: Duration, deliver: ([Frame], PeerAddress) -> Void
    ) throws {
        if pollerStale {
            poller.removeAll()
            wakeUpItem = poller.add(wakeUp)
            if let router { router.item = poller.add(router.socket, events: .readable) }
            for endpoint in dealerOrder {
                let box = dealers[endpoint]!
                box.item = poller.add(box.socket, events: .readable)
            }
            pollerStale = false
        }
        let milliseconds = Int((timeout.milliseconds).clamped(to: 0...1000))
        try poller.poll(timeoutMilliseconds: milliseconds)
        wakeUpReady = wakeUpItem.map { poller.readyEvents($0).contains(.readable) } ?? false
        // The ROUTER and the DEALERs are drained in bounded batches so one busy peer cannot starve the rest.
        if let router, let item = router.item, poller.readyEvents(item).contains(.readable) {
            for _ in 0..<256 {
                guard let frames = try receive(router) else { break }
                guard frames.count >= 2 else { continue }
                deliver(Array(frames.dropFirst()), .routed(frames[0].bytes))
                if stopRequested { return }
            }
        }
        for endpoint in dealerOrder {
            guard let box = dealers[endpoint], let item = box.item, poller.readyEvents(item).contains(.readable) else { continue }
            for _ in 0..<256 {
                guard let frames = try receive(box) else { break }
                deliver(frames, .endpoint(endpoint))
                if stopRequested { return }
            }
        }
    }

    private func receive(_ box: SocketBox) throws -> [Frame]? {
        do {
            return try box.socket.receiveMultipart(dontWait: true, maximumParts: settings.maximumParts + 1)
        } catch {
            guard error.kind == .messageTooLarge else { throw error }
            logger.warning("dropped a message of more than \(settings.maximumParts) frames")
            return []
        }
    }

    func close() {
        poller.removeAll()
        for endpoint in dealerOrder {
            if let box = dealers.removeValue(forKey: endpoint) {
                try? box.socket.set(.linger, to: Int32(settings.linger.milliseconds))
            }
        }
        dealerOrder.removeAll()
        try? router?.socket.set(.linger, to: Int32(settings.linger.milliseconds))
        router = nil
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
