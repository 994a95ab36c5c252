import ZeroMQ

/// A server accepts a data request with sender `s` only from the connection `s` registered from
/// (``SenderBinding``, docs/PROTOCOL.md section 7.8).
extension ServerCore {
    /// Whether the request `header` (as far as it decodes) came from its sender's connection;
    /// when not, answers `wrongConnection` outside the sender's order — nothing is applied, no
    /// request id used up — counts it and logs the 1st, 2nd, 4th, 8th, … refusal.
    func isFromSendersConnection(_ header: Header, frames: [Frame], peer: PeerAddress) -> Bool {
        guard SenderBinding.checks(header.kind),
            let error = senderBinding.violation(sender: header.sender, peer: peer, publicKey: frames.first?.curvePublicKey)
        else { return true }
        if senderBinding.countRefusal() {
            logger.warning(
                "\(link.settings.name) refused \(senderBinding.refused) request(s) so far whose sender id belongs to another connection; the latest: \(header.kind) \(header.requestID) from \(peer): \(error)")
        }
        send(Message(header: header.errorReply(from: link.nodeID, error)), to: peer)
        return false
    }
}
