import ZeroMQ

/// The topology's `security` section: CurveZMQ for the whole cluster, or plaintext, which may bind
/// beyond the loopback interface only when the file says `insecure: true`.
public struct SecuritySpec: Hashable, Sendable {
    /// Whether plaintext nodes may bind addresses other than loopback (`insecure: true`).
    public var insecure: Bool
    /// The cluster's CURVE keys (`curve:`), or `nil` for plaintext.
    public var curve: CurveSettings?

    /// Plaintext on loopback only, the default.
    public init(insecure: Bool = false, curve: CurveSettings? = nil) {
        self.insecure = insecure
        self.curve = curve
    }

    /// What the nodes' transports do.
    public var transportSecurity: TransportSecurity {
        curve.map { .curve($0) } ?? .plaintext(beyondLoopback: insecure)
    }
}

extension Topology {
    /// Refuses a plaintext topology whose nodes bind beyond loopback, unless it says `insecure: true`.
    func validateSecurity() throws(TopologyError) {
        guard security.curve == nil, !security.insecure else { return }
        for (section, spec) in [("manager", manager), ("servers", servers), ("workers", workers)] {
            for rank in 0..<max(1, spec.count) {
                let endpoint = spec.bindEndpoint(rank: rank)
                guard !EndpointHost.isLoopback(endpoint: endpoint) else { continue }
                let path = spec.bindAddress != nil ? "\(section).bind" : spec.hosts.isEmpty ? "\(section).host" : "\(section).hosts"
                let rankText = spec.count > 1 ? " (rank \(rank))" : ""
                throw TopologyError(
                    .insecure, at: location(of: path), path: path,
                    message: "\(section)\(rankText) would bind \(endpoint) in plaintext, reachable beyond this machine; "
                        + "add security: { curve: { cluster_secret_key_file: … } } (zps keygen), or security: { insecure: true }")
            }
        }
    }
}
