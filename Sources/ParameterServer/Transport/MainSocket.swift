/// The socket a handler's work arrives on (see ``TransportHandler/mainSocket``).
public enum MainSocket: Hashable, Sendable {
    /// The node's ROUTER, where other nodes' requests arrive.
    case router
    /// The DEALER connected to this endpoint, where its replies arrive.
    case dealer(String)
}
