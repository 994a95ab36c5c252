import Yams

extension YAMLFieldReader {
    static let peerLimitKeys = PeerLimits.default.named.map(\.0)

    /// Reads the `peer_limits` section: positive integers, each defaulting to ``PeerLimits/default``.
    mutating func peerLimits(_ node: Node) throws(TopologyError) -> PeerLimits {
        let fields = try fields(node, "peer_limits", allowed: Self.peerLimitKeys, expected: "a mapping of limits per peer")
        var limits = PeerLimits.default
        let targets: [(String, WritableKeyPath<PeerLimits, Int>)] = [
            ("send_hwm", \.sendHighWaterMark), ("receive_hwm", \.receiveHighWaterMark), ("reply_bytes", \.replyBytesPerPeer),
            ("held_requests", \.heldRequestsPerSender), ("held_bytes", \.heldBytesPerSender),
            ("unknown_sender_requests", \.unknownSenderRequests), ("unknown_sender_bytes", \.unknownSenderBytes),
        ]
        for (key, target) in targets {
            guard let value = fields.value(key) else { continue }
            let path = fields.path(key)
            let number = try int(value, path, expected: "a positive integer")
            guard number > 0, key.hasSuffix("hwm") ? number <= Int(Int32.max) : true else {
                throw error(.invalidValue, value, path, "must be a positive integer\(key.hasSuffix("hwm") ? " up to \(Int32.max)" : ""), got \(number)")
            }
            limits[keyPath: target] = number
        }
        return limits
    }
}
