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
        let index: Int
        let endpoint: String
        /// How receivers see this node: through their ROUTER, or as the endpoint their DEALER connected to.
        let routedAddress: PeerAddress
        let endpointAddress: PeerAddress
        var running = true
        /// Stopped as with SIGSTOP: no messages or ticks until resumed; what is sent to it waits.
        var paused = false
        /// Messages queued for it.
        var queued = 0
        init(handler: any TransportHandler, io: InMemoryIO, index: Int, endpoint: String) {
            self.handler = handler
            self.io = io
            self.index = index
            self.endpoint = endpoint
            routedAddress = .routed(Array(endpoint.utf8))
            endpointAddress = .endpoint(endpoint)
        }
    }

    private struct Delivery {
        var frames: [Frame]
        var from: Node
        var to: Node
        /// How the receiver sees the sender: through its ROUTER, or on the DEALER it connected.
        var arrivesRouted: Bool
        /// The fake time from which it may be delivered.
        var due: ContinuousClock.Instant
    }

    /// One (sender, receiver) link's FIFO queue; `head` is the next to deliver, so that taking one
    /// does not move the rest.
    private struct Link {
        var queue: [Delivery] = []
        var head = 0
        var isEmpty: Bool { head == queue.count }
        /// When the last message queued on the link may be delivered: a later one never overtakes it.
        var lastDue: ContinuousClock.Instant?
    }

    /// The fake current time.
    public private(set) var now: ContinuousClock.Instant
    private var nodes: [String: Node] = [:]
    private var order: [Node] = []
    /// One FIFO queue per (sender, receiver) link, which is all the ordering ZeroMQ promises; in the
    /// order the links were first used.
    private var links: [Link] = []
    private var linkIndex: [Int: Int] = [:]
    /// The indices of the non-empty links, ascending: the links a step can pick from.
    private var ready: [Int] = []
    private var random: SplitMix64
    private var delays: SplitMix64
    /// Messages delivered so far.
    public private(set) var deliveredCount = 0
    /// Messages sent and not yet delivered (or dropped because their receiver is gone).
    public private(set) var queuedCount = 0
    /// The longest a message waits, in fake time, before it can be delivered; each waits a time drawn
    /// from the seed up to this, in whole milliseconds, and never overtakes an earlier message on its
    /// link. With delays, messages cross clock steps, so that time-outs, heartbeats and node tables
    /// meet requests in flight. Zero (the default) makes every message deliverable at once.
    public var maximumDelay: Duration = .zero
    private var pausedCount = 0
    /// The (sender, receiver) links whose messages wait, in order, until ``unclog(from:to:)``.
    private var clogged: Set<Int> = []
    /// Called with every message as it is delivered (sender's and receiver's endpoints, the frames),
    /// before its receiver handles it: a simulation's trace of a failing seed.
    public var deliveryObserver: ((_ from: String, _ to: String, _ frames: [Frame]) -> Void)?

    /// Creates an empty network; `seed` drives the interleaving of links in ``deliverAll(shuffled:limit:)``.
    public init(seed: UInt64 = 1) {
        now = ContinuousClock.now
        random = SplitMix64(seed: seed)
        delays = SplitMix64(seed: seed ^ 0xDE1A_7500)
    }

    /// Adds a node at `endpoint` and starts it (its handler's `start` runs at once).
    public func add(_ handler: any TransportHandler, endpoint: String) {
        precondition(nodes[endpoint] == nil, "endpoint \(endpoint) is taken")
        let io = InMemoryIO(endpoint: endpoint, network: self)
        let node = Node(handler: handler, io: io, index: order.count, endpoint: endpoint)
        io.node = node.index
        nodes[endpoint] = node
        order.append(node)
        handler.start(io: io)
    }

    /// Adds a node at `endpoint` that runs `machine` in a ``RoleShell``, and starts it.
    public func add<Machine: RoleMachine>(_ machine: Machine, endpoint: String) {
        add(RoleShell(machine) as any TransportHandler, endpoint: endpoint)
    }

    /// Runs `body` with the node's handler and I/O, as ``ZMQTransport/execute(_:)`` does on a real
    /// node's thread; what it sends is queued for ``deliverAll(shuffled:limit:)``.
    public func execute(on endpoint: String, _ body: (any TransportHandler, any TransportIO) -> Void) {
        guard let node = nodes[endpoint], node.running else { return }
        body(node.handler, node.io)
        stopIfAsked(node)
    }

    /// Runs `work` as an event of the node's `Machine` (a node added with its machine),
    /// and carries out what it asks for: how a ``Worker``'s calls, or a test, reach a node's logic.
    public func execute<Machine: RoleMachine>(on endpoint: String, as _: Machine.Type, _ work: (Machine) -> Void) {
        execute(on: endpoint) { handler, io in (handler as! RoleShell<Machine>).execute(io: io, work) }
    }

    /// Removes a node as if its process died: it gets no more messages or ticks, and what was sent
    /// to it is lost.
    public func kill(_ endpoint: String) {
        nodes[endpoint]?.running = false
    }

    /// Kills a node as ``kill(_:)`` does and, with `losingUnsent`, loses what it sent that was not
    /// delivered yet, as when a process dies before its ZeroMQ I/O thread wrote its queues out.
    public func kill(_ endpoint: String, losingUnsent: Bool) {
        kill(endpoint)
        guard losingUnsent, let node = nodes[endpoint] else { return }
        for position in ready.indices.reversed() {
            let link = ready[position]
            let first = links[link].queue[links[link].head]
            guard first.from === node else { continue }
            let lost = links[link].queue.count - links[link].head
            queuedCount -= lost
            first.to.queued -= lost
            links[link].queue.removeAll(keepingCapacity: true)
            links[link].head = 0
            ready.remove(at: position)
        }
    }

    /// Pauses a node as if its process were stopped (SIGSTOP): it gets no messages or ticks until
    /// ``resume(_:)``, and what is sent to it waits, in order, as in the kernel's socket buffers.
    public func pause(_ endpoint: String) {
        guard let node = nodes[endpoint], !node.paused else { return }
        node.paused = true
        pausedCount += 1
    }

    /// Lets a paused node run again: it gets what waited for it, and ticks.
    public func resume(_ endpoint: String) {
        guard let node = nodes[endpoint], node.paused else { return }
        node.paused = false
        pausedCount -= 1
    }

    /// Holds every message from `sender` to `receiver`, sent or to be sent, until
    /// ``unclog(from:to:)``, as a link that is stuck (a full socket buffer, a route that drops
    /// packets while TCP retransmits); other links go on, and nothing is lost or reordered.
    public func clog(from sender: String, to receiver: String) {
        guard let from = nodes[sender], let to = nodes[receiver] else { return }
        clogged.insert(from.index << 32 | to.index)
    }

    /// Lets a clogged link deliver again, what waited on it first.
    public func unclog(from sender: String, to receiver: String) {
        guard let from = nodes[sender], let to = nodes[receiver] else { return }
        clogged.remove(from.index << 32 | to.index)
    }

    /// Whether the node at `endpoint` is still running (it has not stopped itself or been killed).
    public func isRunning(_ endpoint: String) -> Bool { nodes[endpoint]?.running ?? false }

    /// Delivers queued messages, and those they cause, until none are left that are due (see
    /// ``maximumDelay``) or `limit` were delivered; returns how many were. With `shuffled`, each step
    /// picks a random link among those whose next message is due.
    @discardableResult
    public func deliverAll(shuffled: Bool = false, limit: Int = 1_000_000) -> Int {
        var delivered = 0
        var due: [Int] = []
        while delivered < limit, !ready.isEmpty {
            let position: Int
            if maximumDelay > .zero || pausedCount > 0 || !clogged.isEmpty {
                due.removeAll(keepingCapacity: true)
                for (index, link) in ready.enumerated() {
                    let next = links[link].queue[links[link].head]
                    if next.due <= now, !next.to.paused, !clogged.contains(next.from.index << 32 | next.to.index) {
                        due.append(index)
                    }
                }
                guard !due.isEmpty else { break }
                position = due[shuffled ? Int(random.next() % UInt64(due.count)) : 0]
            } else {
                position = shuffled ? Int(random.next() % UInt64(ready.count)) : 0
            }
            let link = ready[position]
            let delivery = links[link].queue[links[link].head]
            links[link].head += 1
            if links[link].isEmpty {
                links[link].queue.removeAll(keepingCapacity: true)
                links[link].head = 0
                ready.remove(at: position)
            }
            queuedCount -= 1
            delivery.to.queued -= 1
            delivered += 1
            let node = delivery.to
            guard node.running else { continue }
            let peer = delivery.arrivesRouted ? delivery.from.routedAddress : delivery.from.endpointAddress
            deliveryObserver?(delivery.from.endpoint, node.endpoint, delivery.frames)
            node.handler.received(delivery.frames, from: peer, io: node.io)
            // As a transport about to wait: nothing more is queued for the node.
            if node.running, node.queued == 0 { node.handler.drained(io: node.io) }
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
            for node in order where node.running && !node.paused {
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

    fileprivate func enqueue(_ frames: [Frame], from sender: Int, to peer: PeerAddress) throws {
        let receiver: Node?
        let arrivesRouted: Bool
        switch peer {
        case .endpoint(let endpoint):
            receiver = nodes[endpoint]
            arrivesRouted = true
        case .routed(let identity):
            receiver = nodes[String(decoding: identity, as: UTF8.self)]
            arrivesRouted = false
        }
        guard let receiver else {
            // As with ROUTER_MANDATORY: a routed reply to a peer that never connected fails; a
            // DEALER message to an unknown endpoint would wait for a peer that never comes.
            if case .routed(let identity) = peer {
                throw InMemoryNetworkError(message: "no node at \(String(decoding: identity, as: UTF8.self))")
            }
            return
        }
        let key = sender << 32 | receiver.index
        let link: Int
        if let known = linkIndex[key] {
            link = known
        } else {
            link = links.count
            links.append(Link())
            linkIndex[key] = link
        }
        if links[link].isEmpty {
            // Links are numbered in the order of first use, so the ready list stays in that order.
            var low = 0, high = ready.count
            while low < high {
                let middle = (low + high) / 2
                if ready[middle] < link { low = middle + 1 } else { high = middle }
            }
            ready.insert(link, at: low)
        }
        var due = now
        if maximumDelay > .zero {
            let milliseconds = maximumDelay.components.seconds * 1000 + maximumDelay.components.attoseconds / 1_000_000_000_000_000
            due = now + .milliseconds(Int64(delays.next() % UInt64(milliseconds + 1)))
            if let last = links[link].lastDue, last > due { due = last }
            links[link].lastDue = due
        }
        links[link].queue.append(Delivery(frames: frames, from: order[sender], to: receiver, arrivesRouted: arrivesRouted, due: due))
        queuedCount += 1
        receiver.queued += 1
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
    /// This node's index in the network.
    var node = 0
    var stopRequested = false

    init(endpoint: String, network: InMemoryNetwork) {
        localEndpoint = endpoint
        self.network = network
    }

    var now: ContinuousClock.Instant { network.now }

    func send(_ frames: [Frame], to peer: PeerAddress) throws {
        try network.enqueue(frames, from: node, to: peer)
    }

    func stop() { stopRequested = true }
}
