/// The pushes whose results a server holds, per range, by the identity they were first sent under
/// (``RequestOrigin``): what lets a replica promoted to primary acknowledge, without applying it
/// again, a push its dead primary had applied and replicated but not acknowledged, when the worker
/// sends it again (docs/FAULT-TOLERANCE.md).
///
/// Kept per range because one push may cover several ranges of its primary, each with its own
/// chain: a server may hold one range's result of a push and not another's, and must apply the
/// push to the second only.
///
/// Only recent ids matter: a worker sends again only requests that are still in flight. Per
/// (range, server, sender) the ids within ``window`` of the highest one seen are kept.
struct AppliedOrigins {
    private struct Pair: Hashable {
        var table: UInt32
        var range: KeyRange
        var server: NodeID
        var sender: NodeID
    }

    /// How many ids below the highest one of a (server, sender) pair are remembered.
    static let window: UInt64 = 1 << 16

    private var seen: [Pair: (ids: Set<UInt64>, highest: UInt64)] = [:]

    /// Records that the result of `origin` on `range` of table `table` is held here.
    mutating func insert(_ origin: RequestOrigin, table: UInt32, range: KeyRange) {
        let pair = Pair(table: table, range: range, server: origin.server, sender: origin.sender)
        // Modified in place: one lookup, and the set is not copied.
        Self.insert(origin.requestID, into: &seen[pair, default: ([], 0)])
    }

    private static func insert(_ id: UInt64, into entry: inout (ids: Set<UInt64>, highest: UInt64)) {
        entry.ids.insert(id)
        entry.highest = max(entry.highest, id)
        if entry.ids.count > 2 * Int(window) {
            let floor = entry.highest - window
            entry.ids = entry.ids.filter { $0 > floor }
        }
    }

    /// Whether the result of `origin` on `range` of table `table` is held here.
    func contains(_ origin: RequestOrigin, table: UInt32, range: KeyRange) -> Bool {
        seen[Pair(table: table, range: range, server: origin.server, sender: origin.sender)]?.ids.contains(origin.requestID) ?? false
    }

    /// The recorded origins of `range` of table `table` whose ids lie within `window` of the highest
    /// id of their (server, sender) pair: what a full copy of the range carries to its new replica,
    /// so that a push a worker still has in flight is not applied twice there after a promotion.
    func recent(table: UInt32, range: KeyRange, window: UInt64 = AppliedOrigins.copyWindow) -> [RequestOrigin] {
        var result: [RequestOrigin] = []
        for (pair, entry) in seen where pair.table == table && pair.range == range {
            let floor = entry.highest > window ? entry.highest - window : 0
            for id in entry.ids where id > floor {
                result.append(RequestOrigin(server: pair.server, sender: pair.sender, requestID: id))
            }
        }
        return result.sorted { ($0.server, $0.sender, $0.requestID) < ($1.server, $1.sender, $1.requestID) }
    }

    /// How many ids below the highest one of a (server, sender) pair a range copy carries: far more
    /// than a worker keeps in flight to one server.
    static let copyWindow: UInt64 = 4096

    /// Gives each of `pieces` (the parts a join cut `range` of table `table` into) the record of
    /// `range`, which is dropped.
    mutating func split(table: UInt32, range: KeyRange, into pieces: [KeyRange]) {
        for (pair, entry) in seen where pair.table == table && pair.range == range {
            seen[pair] = nil
            for piece in pieces {
                var moved = pair
                moved.range = piece
                seen[moved] = entry
            }
        }
    }

    /// Forgets a sender that left the cluster.
    mutating func forget(sender: NodeID) {
        seen = seen.filter { $0.key.sender != sender }
    }
}
