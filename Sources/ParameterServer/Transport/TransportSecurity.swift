import ZeroMQ

/// Whether a node's sockets encrypt and authenticate, and whom they admit.
public enum TransportSecurity: Sendable, Hashable {
    /// No encryption and no authentication: any peer that reaches the ROUTER may talk to it.
    /// `beyondLoopback` allows binding an address other than the loopback interface (topology
    /// `security: { insecure: true }`); without it such a bind is refused.
    case plaintext(beyondLoopback: Bool)
    /// CurveZMQ on every socket of the node (see ``CurveSettings``).
    case curve(CurveSettings)

    /// Whether binding `endpoint` is allowed: always with CURVE; in plaintext only on the loopback
    /// interface (or inproc/ipc) unless `beyondLoopback`.
    public func allowsBinding(_ endpoint: String) -> Bool {
        switch self {
        case .curve, .plaintext(beyondLoopback: true): return true
        case .plaintext(beyondLoopback: false): return EndpointHost.isLoopback(endpoint: endpoint)
        }
    }
}

/// The CurveZMQ keys of a cluster.
///
/// One key pair serves the whole cluster: every node's ROUTER is a CURVE server with it, and every
/// node's DEALERs connect as CURVE clients with it, so a node needs one secret and knows every
/// peer's server key without a per-node table. The ZAP handler of each node admits the cluster's
/// own public key and ``allowedClients``, the keys of foreign clients.
public struct CurveSettings: Sendable, Hashable {
    /// The pair every ROUTER serves with and every DEALER connects with.
    public var clusterKeyPair: CurveKeyPair
    /// The public keys of foreign clients that may connect, besides the cluster's own.
    public var allowedClients: Set<CurveKey>

    /// Creates the settings.
    public init(clusterKeyPair: CurveKeyPair, allowedClients: Set<CurveKey> = []) {
        self.clusterKeyPair = clusterKeyPair
        self.allowedClients = allowedClients
    }

    /// Every key the ZAP handler admits: the cluster's and the foreign clients'.
    public var admittedKeys: Set<CurveKey> {
        allowedClients.union([clusterKeyPair.publicKey])
    }
}
