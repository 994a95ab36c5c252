import ZeroMQ

/// Splits a worker's request by the servers' key ranges of the node table: one message per server
/// range that holds some of its keys, with frames that view the caller's arrays.
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
        /// The part of the key range a range function names (no keys then).
        var range: KeyRange? = nil
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

    /// The routes of the servers of `table`.
    init(_ table: NodeTable) {
        self.init(routes: table.nodes(withRole: .server).flatMap { node in
            let server = Destination(node)
            return node.ranges.map { Route(range: $0, server: server) }
        })
    }

    /// The slices of sorted, unique `keys` (and their `values`, `valueLength` floats per key), in key
    /// order. With `toEveryServer` (a push of a `bsp` iteration), every server gets exactly one
    /// message, with no keys where it has none, so that it can tell when the iteration is complete.
    func slices(
        keys: [UInt64], values: [Float]?, valueLength width: Int, toEveryServer: Bool, node: String
    ) throws(RequestError) -> [Slice] {
        let parts = split(keys)
        if let uncovered = parts.uncovered {
            throw RequestError(code: .keyOutOfRange, peer: node, message: "key \(uncovered) lies outside every server's range")
        }
        // Each slice's frames view the caller's arrays: nothing is copied, whatever the number of servers.
        func slice(_ range: Range<Int>, _ server: Destination) -> Slice {
            Slice(
                server: server,
                keys: Frame(array: keys, range: range),
                values: values.map { Frame(array: $0, range: (range.lowerBound * width)..<(range.upperBound * width)) },
                keyCount: range.count)
        }
        guard toEveryServer else {
            var result: [Slice] = []
            result.reserveCapacity(parts.slices.count)
            for part in parts.slices { result.append(slice(part.keys, part.server)) }
            return result
        }
        var servers: [Destination] = []
        for route in routes where !servers.contains(where: { $0.id == route.server.id }) { servers.append(route.server) }
        return servers.map { server in
            let mine = parts.slices.filter { $0.server.id == server.id }.map(\.keys)
            if mine.count == 1 { return slice(mine[0], server) }
            // No keys, or keys from several ranges of one server: one message all the same.
            let serverKeys = mine.flatMap { keys[$0] }
            let serverValues = values.map { values in mine.flatMap { values[($0.lowerBound * width)..<($0.upperBound * width)] } }
            return Slice(
                server: server, keys: Frame(array: serverKeys), values: serverValues.map { Frame(array: $0) },
                keyCount: serverKeys.count)
        }
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
