import ZeroMQ

/// Splits a worker's request by the servers' key ranges of the node table: one message per server
/// that holds some of its keys, however many of that server's ranges they fall in, with frames
/// that view the caller's arrays where the server's keys are one run of them.
struct RequestSlicer {
    /// A server that slices go to, one object per server shared by its routes and by every slice
    /// and request in flight to it: each of those holds one reference instead of a copy of the node's
    /// record.
    final class Destination: Sendable, CustomStringConvertible {
        /// The server's entry in the node table.
        let node: NodeInfo
        /// Where its requests are sent.
        let address: PeerAddress

        init(_ node: NodeInfo) {
            self.node = node
            address = .endpoint(node.endpoint)
        }

        var id: NodeID { node.id }
        /// The server's name, id and endpoint, for errors.
        var description: String { node.description }
    }

    /// One server's share of the key space.
    struct Route {
        var range: KeyRange
        var server: Destination
    }

    /// One request to one server.
    struct Slice {
        var server: Destination
        var keys: Frame
        var values: Frame?
        var keyCount: Int
        /// The positions in the request of the keys the slice carries, ascending: one run when the
        /// server holds them in one range, several when its ranges alternate with other servers'.
        var runs: [Range<Int>] = []
        /// The part of the key range a range function names (no keys then).
        var range: KeyRange? = nil
        /// For a push of a `bsp` iteration: the segments the server counts it toward (`sg`),
        /// adjacent ones merged.
        var segments: [KeyRange] = []
    }

    /// The routes, ascending by range.
    let routes: [Route]
    /// The server every route leads to, when there is exactly one.
    let onlyServer: Destination?

    init(routes: [Route]) {
        self.routes = routes.sorted { $0.range.lowerBound < $1.range.lowerBound }
        let first = routes.first?.server
        onlyServer = routes.allSatisfy { $0.server.id == first?.id } ? first : nil
    }

    /// The routes of the servers of `table`: each server's `ranges`; with chains, every segment
    /// to the head of its chain, so that a segment being drained for a join, which its head does not
    /// list, still goes to it and is refused with `staleTable` until the next table.
    init(_ table: NodeTable) {
        let servers = table.nodes(withRole: .server)
        guard !table.chains.isEmpty else {
            self.init(routes: servers.flatMap { node in
                let server = Destination(node)
                return node.ranges.map { Route(range: $0, server: server) }
            })
            return
        }
        let destinations = Dictionary(servers.map { ($0.id, Destination($0)) }, uniquingKeysWith: { first, _ in first })
        self.init(routes: table.chains.compactMap { chain in
            chain.nodes.first.flatMap { destinations[$0] }.map { Route(range: chain.range, server: $0) }
        })
    }

    /// The slices of sorted, unique `keys` (and their `values`, `valueLength` floats per key): one
    /// per server that holds some of them, in the order of their first keys, whatever the number of
    /// that server's ranges the keys touch.
    func slices(keys: [UInt64], values: [Float]?, valueLength width: Int, node: String) throws(RequestError) -> [Slice] {
        let parts = split(keys)
        if let uncovered = parts.uncovered {
            throw RequestError(code: .keyOutOfRange, peer: node, message: "key \(uncovered) lies outside every server's range")
        }
        // The usual request, all in one server's range: no grouping.
        if parts.slices.count == 1, let only = parts.slices.first {
            return [Self.slice(keys: keys, values: values, width: width, runs: [only.keys], server: only.server)]
        }
        // The runs of each server, in the order of their first keys.
        var servers: [(server: Destination, runs: [Range<Int>])] = []
        for part in parts.slices {
            if let index = servers.firstIndex(where: { $0.server === part.server }) {
                // Adjacent ranges of one server (with replication, one per chain) make one run.
                if let last = servers[index].runs.last, last.upperBound == part.keys.lowerBound {
                    servers[index].runs[servers[index].runs.count - 1] = last.lowerBound..<part.keys.upperBound
                } else {
                    servers[index].runs.append(part.keys)
                }
            } else {
                servers.append((part.server, [part.keys]))
            }
        }
        return servers.map { Self.slice(keys: keys, values: values, width: width, runs: $0.runs, server: $0.server) }
    }

    /// The slices of a push of a `bsp` iteration whose keys (sorted, unique) lie in `segments`: one
    /// per server that heads some part of `segments`, keys or not, naming the parts it heads
    /// (``Slice/segments``), so that each counts the push toward exactly those. A first push names
    /// the whole key space and reaches every server; one sent again after a fail-over names the
    /// segments its first server counted it toward, which may now lie on several servers.
    func slices(
        keys: [UInt64], values: [Float]?, valueLength width: Int, within segments: [KeyRange], node: String
    ) throws(RequestError) -> [Slice] {
        // The parts of `segments` each route holds, in key order.
        var owned: [(range: KeyRange, server: Destination)] = []
        for route in routes {
            for segment in segments {
                let part = route.range.intersection(segment)
                if !part.isEmpty { owned.append((part, route.server)) }
            }
        }
        var servers: [(server: Destination, runs: [Range<Int>], segments: [KeyRange])] = []
        var index = 0
        for (range, server) in owned {
            let start = index
            while index < keys.count, keys[index] < range.upperBound {
                guard range.contains(keys[index]) else {
                    throw RequestError(code: .keyOutOfRange, peer: node, message: "key \(keys[index]) lies outside every server's range")
                }
                index += 1
            }
            let position = servers.firstIndex { $0.server === server } ?? {
                servers.append((server, [], []))
                return servers.count - 1
            }()
            if start < index {
                if let last = servers[position].runs.last, last.upperBound == start {
                    servers[position].runs[servers[position].runs.count - 1] = last.lowerBound..<index
                } else {
                    servers[position].runs.append(start..<index)
                }
            }
            if let last = servers[position].segments.last, last.upperBound == range.lowerBound {
                servers[position].segments[servers[position].segments.count - 1] = KeyRange(last.lowerBound, range.upperBound)
            } else {
                servers[position].segments.append(range)
            }
        }
        if index < keys.count {
            throw RequestError(code: .keyOutOfRange, peer: node, message: "key \(keys[index]) lies outside every server's range")
        }
        return servers.map { entry in
            var slice = Self.slice(keys: keys, values: values, width: width, runs: entry.runs, server: entry.server)
            slice.segments = entry.segments
            return slice
        }
    }

    /// The message of `runs` of `keys` to `server`. One run views the caller's arrays, nothing
    /// copied (the usual case, and the only one with one range per server); several runs, a
    /// server's ranges with other servers' keys between them, are gathered into one message.
    private static func slice(keys: [UInt64], values: [Float]?, width: Int, runs: [Range<Int>], server: Destination) -> Slice {
        if runs.count == 1, let run = runs.first {
            return Slice(
                server: server,
                keys: Frame(array: keys, range: run),
                values: values.map { Frame(array: $0, range: (run.lowerBound * width)..<(run.upperBound * width)) },
                keyCount: run.count, runs: runs)
        }
        let count = runs.reduce(0) { $0 + $1.count }
        let keyFrame = Frame.allocate(count: 8 * count) { output in
            keys.withUnsafeBytes { input in
                var offset = 0
                for run in runs {
                    (output.baseAddress! + offset).copyMemory(from: input.baseAddress! + 8 * run.lowerBound, byteCount: 8 * run.count)
                    offset += 8 * run.count
                }
            }
        }
        let valueFrame = values.map { values in
            Frame.allocate(count: 4 * width * count) { output in
                values.withUnsafeBytes { input in
                    var offset = 0
                    for run in runs {
                        let bytes = 4 * width * run.count
                        (output.baseAddress! + offset).copyMemory(from: input.baseAddress! + 4 * width * run.lowerBound, byteCount: bytes)
                        offset += bytes
                    }
                }
            }
        }
        return Slice(server: server, keys: keyFrame, values: valueFrame, keyCount: count, runs: runs)
    }

    /// The runs of `keys` each route holds, and the first key no route holds.
    private func split(_ keys: [UInt64]) -> (slices: [(keys: Range<Int>, server: Destination)], uncovered: UInt64?) {
        var result: [(keys: Range<Int>, server: Destination)] = []
        var index = 0
        keys.withUnsafeBufferPointer { buffer in
            // Most requests fall in one route: found by its two ends, without a search.
            if let first = buffer.first, let last = buffer.last,
                let route = routes.first(where: { $0.range.contains(first) }), route.range.contains(last)
            {
                result.append((0..<buffer.count, route.server))
                index = buffer.count
                return
            }
            for route in routes where index < buffer.count {
                guard route.range.contains(buffer[index]) else {
                    if buffer[index] < route.range.lowerBound { break }
                    continue
                }
                let end = KeyFrameSearch.firstIndex(
                    in: UnsafeRawBufferPointer(buffer), count: buffer.count, notBelow: route.range.upperBound, from: index)
                result.append((index..<end, route.server))
                index = end
            }
        }
        return (result, index < keys.count ? keys[index] : nil)
    }
}
