import ZeroMQ

/// The results of several ranges that go to the same next server in one
/// ``MessageKind/replicate`` (docs/PROTOCOL.md section 15).
///
/// A primary heads many segments (8 per server by default), so a flush holds a result per
/// segment. Sent one message each, they reach the next server one at a time between the
/// workers' pushes (a ROUTER takes one message per peer in turn), and each needs its own
/// acknowledgement, which waits the same way on the way back: a flush of 8 results waited for
/// 8 turns twice. Bundled, a flush is one message and one acknowledgement per next server; a
/// middle server forwards a bundle's pieces each down its own chain.
///
/// A bundle carries its ranges' keys in ascending order with their entries, and, as `org`, every
/// push whose result it holds. Only whole results are bundled (a range's result that takes
/// several parts goes part by part, the last naming the pushes), so the next server may record
/// every push for every range the bundle covers: a push names no key of a range it did not
/// change, so recording it there changes nothing a resent push could do.
enum ReplicateBundle {
    /// Most keys of one bundle: the size of one part of a range's result.
    static let keyLimit = 1 << 16

    /// The most header entries of one bundle, counting a push it names (`org`, about 15 bytes) as
    /// one and a clock entry (`vc`, about 30 bytes) as two: about 46 KB, inside the 64 KiB header
    /// limit.
    static let headerEntryLimit = 3072

    /// The header entries `message` adds to a bundle (see ``headerEntryLimit``).
    static func headerEntries(of message: Message) -> Int {
        message.header.origins.count + 2 * message.header.clockRecords.count
    }

    /// One range's result in a bundle: where its keys lie in the bundle's keys.
    struct Piece {
        var range: KeyRange
        var keys: Range<Int>
    }

    /// The results of one flush as they go: per next server and table, in order, the whole results
    /// that go together in one bundle (up to ``keyLimit`` keys), and each other result (a part of a
    /// range's larger result, or one that cannot be bundled) alone. `successor` names a range's
    /// next server; a range without one is left out. A middle server forwards a bundle piece by
    /// piece, each down its own chain, and acknowledges it once every piece is.
    static func groups(
        of results: [(range: KeyRange, message: Message)], successor: (KeyRange) -> NodeID?
    ) -> [(successor: NodeID, table: UInt32, results: [(range: KeyRange, message: Message)], keys: Int)] {
        var bundles: [(successor: NodeID, table: UInt32, results: [(range: KeyRange, message: Message)], keys: Int)] = []
        // The header entries of each bundle so far (``headerEntries(of:)`` summed), beside it.
        var bundleEntries: [Int] = []
        for (index, (range, message)) in results.enumerated() {
            guard let next = successor(range) else { continue }
            let whole = (index == 0 || results[index - 1].range != range)
                && (index + 1 == results.count || results[index + 1].range != range)
            let keys = message.keyCount
            if whole, isBundleable(message), keys < keyLimit,
                let open = bundles.lastIndex(where: { $0.successor == next && $0.table == message.header.table }),
                bundles[open].keys + keys <= keyLimit, isBundleable(bundles[open].results[0].message),
                bundleEntries[open] + headerEntries(of: message) <= headerEntryLimit,
                bundles[open].results[0].message.header.valueLength == message.header.valueLength,
                // A bundle names one iteration for all its ranges (`bsp` tables).
                bundles[open].results[0].message.header.iteration == message.header.iteration
            {
                bundles[open].results.append((range, message))
                bundles[open].keys += keys
                bundleEntries[open] += headerEntries(of: message)
            } else {
                bundles.append((next, message.header.table, [(range, message)], whole ? keys : keyLimit))
                bundleEntries.append(headerEntries(of: message))
            }
        }
        return bundles
    }

    /// The results of `results` (each a whole result of its range, keys ascending, ranges in
    /// ascending order, all of one table) in one replicate, with where each range's keys lie.
    static func bundle(_ results: [(range: KeyRange, message: Message)]) -> (message: Message, pieces: [Piece]) {
        let width = Int(results[0].message.header.valueLength)
        let keyCount = results.reduce(0) { $0 + $1.message.keyCount }
        var pieces: [Piece] = []
        pieces.reserveCapacity(results.count)
        var start = 0
        for result in results {
            pieces.append(Piece(range: result.range, keys: start..<(start + result.message.keyCount)))
            start += result.message.keyCount
        }
        let keys = Frame.allocate(count: 8 * keyCount) { output in
            var offset = 0
            for result in results {
                result.message.keys!.withUnsafeBytes { input in
                    (output.baseAddress! + offset).copyMemory(from: input.baseAddress!, byteCount: input.count)
                    offset += input.count
                }
            }
        }
        let entries = Frame.allocate(count: 4 * width * keyCount) { output in
            var offset = 0
            for result in results {
                result.message.values!.withUnsafeBytes { input in
                    (output.baseAddress! + offset).copyMemory(from: input.baseAddress!, byteCount: input.count)
                    offset += input.count
                }
            }
        }
        var header = results[0].message.header
        header.keyCount = UInt32(keyCount)
        var seen = Set<RequestOrigin>()
        header.origins = results.flatMap { $0.message.header.origins }.filter { seen.insert($0).inserted }
        // Each range's entries lie inside its own keys: a next server applies them all to every
        // piece's clock, which keeps only its own.
        header.clockRecords = results.flatMap { $0.message.header.clockRecords }
        // A bsp table's results name their segments, all at one iteration.
        header.segments = results.flatMap { $0.message.header.segments }
        return (Message(header: header, keys: keys, values: entries), pieces)
    }

    /// Whether `message` may go in a bundle: a result with keys and entries whose entries fit its keys.
    static func isBundleable(_ message: Message) -> Bool {
        let count = message.keyCount
        guard message.header.kind == .replicate, count > 0, let keys = message.keys, let values = message.values else { return false }
        return keys.count == 8 * count && values.count == 4 * Int(message.header.valueLength) * count
    }
}

extension Message {
    /// The replicate of the keys at `keys` of this replicate, with their entries and the same
    /// header (origins included).
    func replicatePiece(keys: Range<Int>) -> Message {
        let width = Int(header.valueLength)
        var pieceHeader = header
        pieceHeader.keyCount = UInt32(keys.count)
        let keyFrame = self.keys!.withUnsafeBytes { raw in
            Frame(copying: UnsafeRawBufferPointer(rebasing: raw[(8 * keys.lowerBound)..<(8 * keys.upperBound)]))
        }
        let entryFrame = values!.withUnsafeBytes { raw in
            Frame(copying: UnsafeRawBufferPointer(rebasing: raw[(4 * width * keys.lowerBound)..<(4 * width * keys.upperBound)]))
        }
        return Message(header: pieceHeader, keys: keyFrame, values: entryFrame)
    }
}
