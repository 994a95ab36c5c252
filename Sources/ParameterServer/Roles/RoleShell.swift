import ZeroMQ

/// The thin shell that runs a ``RoleMachine`` on a transport: transport callbacks become events
/// with the time and endpoint of the node, and the directives the machine returns are carried out
/// through ``TransportIO``. A send that fails goes back to the machine as
/// ``NodeEvent/sendFailed(_:error:)``, and what it answers is carried out in turn.
public final class RoleShell<Machine: RoleMachine>: TransportHandler {
    /// The logic the shell runs; touched only on the node's I/O thread.
    public let machine: Machine
    /// One buffer for every event's directives, so that a message costs no allocation here.
    private var directives: [NodeDirective] = []
    /// The directives being carried out (swapped with ``directives``, so that both keep their room).
    private var carrying: [NodeDirective] = []

    /// Creates the shell of `machine`.
    public init(_ machine: Machine) {
        self.machine = machine
    }

    public var mainSocket: MainSocket? { machine.mainSocket }

    public func start(io: any TransportIO) {
        handle(.started, io: io)
    }

    public func received(_ frames: [Frame], from peer: PeerAddress, io: any TransportIO) {
        // The key travels in the message's metadata; reading it is a map lookup, and nothing on
        // a plaintext connection.
        let peerPublicKey = frames.first?.curvePublicKey
        machine.handle(
            .received(frames, from: peer),
            context: NodeContext(
                now: io.now, localEndpoint: io.localEndpoint, peerPublicKey: peerPublicKey, replyRoom: io.replyRoom(for: peer)),
            into: &directives)
        carryOut(io: io)
    }

    public func tick(io: any TransportIO) {
        handle(.tick, io: io)
    }

    public func drained(io: any TransportIO) {
        handle(.drained, io: io)
    }

    public func stopped(error: (any Error)?) {
        machine.stopped(error: error)
    }

    /// Runs `work` on the machine as an event of its own, then carries out what it asked for: how
    /// work queued from other threads (``Worker``'s calls, a signal) reaches the machine.
    public func execute(io: any TransportIO, _ work: (Machine) -> Void) {
        machine.execute(work, context: Self.context(io), into: &directives)
        carryOut(io: io)
    }

    private func handle(_ event: NodeEvent, io: any TransportIO) {
        machine.handle(event, context: Self.context(io), into: &directives)
        carryOut(io: io)
    }

    private static func context(_ io: any TransportIO) -> NodeContext {
        NodeContext(now: io.now, localEndpoint: io.localEndpoint)
    }

    /// Carries out the buffered directives in order; what the machine answers to a failed send is
    /// appended and carried out after them. Each directive is moved out of the buffer, not copied:
    /// its header, frames and peer are not retained again on the way to the socket.
    private func carryOut(io: any TransportIO) {
        while !directives.isEmpty {
            swap(&carrying, &directives)
            carrying.reverse()
            while let directive = carrying.popLast() {
                do {
                    switch directive {
                    case .send(let header, let payload, let peer, _):
                        try io.send(header, payload: payload, to: peer)
                    case .sendFrames(let frames, let peer, _):
                        try io.send(frames, to: peer)
                    case .stop:
                        io.stop()
                    }
                } catch {
                    machine.handle(.sendFailed(directive, error: error), context: Self.context(io), into: &directives)
                }
            }
        }
    }
}
