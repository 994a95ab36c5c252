/// Pull replies a server does not build because the transport would drop them.
///
/// A peer that does not read its replies gets none beyond its reply budget (docs/PROTOCOL.md
/// section 10.1): the transport drops them. Reading the values and building the frames of such a
/// reply is wasted work, which a peer that keeps asking could make the server do without end. For
/// a pull of keys the reply's size is known before reading (`n` × `vl` floats), so when the
/// transport says the sender has less room than that (``NodeContext/replyRoom``, only ever set for
/// a peer whose replies were dropped already), the pull is not read at all. The request is handled
/// as if its reply had been dropped: its id is used up, and a retry reads again and is answered
/// once the peer has room. A range pull (its size is known only once read), a pull of a `bsp`
/// iteration (held, answered later) and a pull asking for encoded replies (smaller than their
/// floats) are built as before.
extension ServerCore {
    /// Whether `message`, a pull from `peer`, is not served because its reply would be dropped;
    /// counts it, and logs at the 1st, 2nd, 4th, … such pull.
    func skipsDroppedReply(_ message: Message, to peer: PeerAddress) -> Bool {
        guard let room = replyRoom, room.peer == peer else { return false }
        let header = message.header
        guard header.kind == .pull, !header.flags.contains(.rangeRequest), header.iteration == nil,
            (header.acceptedEncodings ?? []).isEmpty
        else { return false }
        guard Int(header.keyCount) * Int(header.valueLength) * 4 > room.bytes else { return false }
        skippedReplies += 1
        if skippedReplies & (skippedReplies - 1) == 0 {
            logger.warning(
                "\(link.settings.name) did not read \(skippedReplies) pull(s) so far whose replies would be dropped (the peer does not read its replies); last from \(peer)")
        }
        return true
    }
}
