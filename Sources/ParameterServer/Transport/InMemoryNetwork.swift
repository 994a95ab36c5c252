import ZeroMQ

/// A deterministic, single-threaded stand-in for ZeroMQ: the role logic of several nodes exchanges
/// real encoded frames through queues, and time is a fake clock the caller advances.
///
/// It keeps the one guarantee the protocol takes from ZeroMQ — messages between two nodes arrive in
/// the order they were sent — and lets a test pick how the links interleave (in order, or shuffled
/// by a seed), drop a node, or let minutes pass in a microsecond. It is for unit tests of the
/// algorithms in the roles; the same scenarios also run on ``ZMQTransport`` with real processes.
public final class InMemoryNetwork {
    private final class Node {
        let handler: any TransportHandler
        let io: InMemoryIO
        var running = true
        init(handler: any TransportHandler, io: InMemoryIO) {
            self.handler = handler
            self.io = io
        }
    }

    private struct Delivery {
        var frames: [Frame]
        var from: String
        var to: String
        /// How the receiver sees the sender: through its ROUTER, or on the DEALER it connected.
        var arrivesRouted: Bool
    }

    /// The fake current time.
    public private(set) var now: ContinuousClock.Instant
    private var nodes: [String: Node] = [:]
    private var order: [String] = []
    /// One FIFO queue per (sender, receiver) link, which is all the ordering ZeroMQ promises.
    private var links: [String: [Delivery]] = [:]
    private var linkOrder: [String] = []
    /// Per node, the messages queued for it.
    private var queued: [String: Int] = [:]
    private var random: SplitMix64
    /// Messages delivered so far.
    public private(set) var deliveredCount = 0

    /// Creates an empty network; `seed` drives the interleaving of links in ``deliverAll(shuffled:limit:)``.
    public init(seed: UInt64 = 1) {
        now = ContinuousClock.now
        random = SplitMix64(seed: seed)
    }

    /// Adds a node at `endpoint` and starts it (its handler's `start` runs at once).
    public func add(_ handler: any TransportHandler, endpoint: String) {
        precondition(nodes[endpoint] == nil, "endpoint \(endpoint) is taken")
        let io = InMemoryIO(endpoint: endpoint, network: self)
        nodes[endpoint] = Node(handler: handler, io: io)
        order.append(endpoint)
        handler.start(io: io)
    }

    /// Runs `body` with the node's handler and I/O, as ``ZMQTransport/execute(_:)`` does on a real
    /// node's thread; what it sends is queued for ``deliverAll(shuffled:limit:)``.
    public func execute(on endpoint: String, _ body: (any TransportHandler, any TransportIO) -> Void) {
        guard let node = nodes[endpoint], node.running else { return }
        body(node.handler, node.io)
        stopIfAsked(node)
    }

    /// Removes a node as if its process died: it gets no more messages or ticks, and what was sent
    /// to it is lost.
    public func kill(_ endpoint: String) {
        nodes[endpoint]?.running = false
    }

    /// Whether the node at `endpoint` is still running (it has not stopped itself or been killed).
    public func isRunning(_ endpoint: String) -> Bool { nodes[endpoint]?.running ?? false }

    /// Delivers queued messages, and those they cause, until none are left or `limit` were
    /// delivered; returns how many were. With `shuffled`, each step picks a random non-empty link.
    @discardableResult
    public func deliverAll(shuffled: Bool = false, limit: Int = 1_000_000) -> Int {
        var delivered = 0
        while delivered < limit {
            let ready = linkOrder.filter { !(links[$0]?.isEmpty ?? true) }
            guard !ready.isEmpty else { break }
            let link = shuffled ? ready[Int(random.next() % UInt64(ready.count))] : ready[0]
            let delivery = links[link]!.removeFirst()
            queued[delivery.to, default: 1] -= 1
            delivered += 1
            guard let node = nodes[delivery.to], node.running else { continue }
            let peer: PeerAddress = delivery.arrivesRouted ? .routed(Array(delivery.from.utf8)) : .endpoint(delivery.from)
            node.handler.received(delivery.frames, from: peer, io: node.io)
            // As a transport about to wait: nothing more is queued for the node.
            if node.running, queued[delivery.to] == 0 { node.handler.drained(io: node.io) }
            stopIfAsked(node)
        }
        deliveredCount += delivered
        return delivered
    }

    /// Moves the fake clock forward by `duration` in steps of `step`, ticking every running node
    /// and delivering what the ticks send after each step (links interleaved by the seed with
    /// `shuffled`).
    public func advance(by duration: Duration, step: Duration = .milliseconds(20), shuffled: Bool = false) {
        let end = now + duration
        while now < end {
            now = min(now + step, end)
            for endpoint in order {
                guard let node = nodes[endpoint], node.running else { continue }
                node.handler.tick(io: node.io)
                stopIfAsked(node)
            }
            deliverAll(shuffled: shuffled)
        }
    }

    private func stopIfAsked(_ node: Node) {
        guard node.running, node.io.stopRequested else { return }
        node.running = false
        node.handler.stopped(error: nil)
    }

    fileprivate func enqueue(_ frames: [Frame], from: String, to peer: PeerAddress) throws {
        let delivery: Delivery
        switch peer {
        case .endpoint(let endpoint):
            delivery = Delivery(frames: frames, from: from, to: endpoint, arrivesRouted: true)
        case .routed(let identity):
            delivery = Delivery(frames: frames, from: from, to: String(decoding: identity, as: UTF8.self), arrivesRouted: false)
        }
        guard nodes[delivery.to] != nil else {
            // As with ROUTER_MANDATORY: a routed reply to a peer that never connected fails; a
            // DEALER message to an unknown endpoint would wait for a peer that never comes.
            if case .routed = peer { throw InMemoryNetworkError(message: "no node at \(delivery.to)") }
            return
        }
        let link = from + " -> " + delivery.to
        if links[link] == nil {
            links[link] = []
            linkOrder.append(link)
        }
        links[link]!.append(delivery)
        queued[delivery.to, default: 0] += 1
    }
}

/// A send to a node the in-memory network does not have.
public struct InMemoryNetworkError: Error, CustomStringConvertible {
    /// What went wrong.
    public var message: String
    public var description: String { message }
}

/// One node's view of the in-memory network.
private final class InMemoryIO: TransportIO {
    let localEndpoint: String
    unowned let network: InMemoryNetwork
    var stopRequested = false

    init(endpoint: String, network: InMemoryNetwork) {
        localEndpoint = endpoint
        self.network = network
    }

    var now: ContinuousClock.Instant { network.now }

    func send(_ frames: [Frame], to peer: PeerAddress) throws {
        try network.enqueue(frames, from: localEndpoint, to: peer)
    }

    func stop() { stopRequested = true }
}
