import CMsgPack
import ZeroMQ

/// Reading the node table (`nt`): the manager's view of the cluster, checked node by node.
extension HeaderReader {
    func nodeTable(_ object: msgpack_object) throws(WireError) -> NodeTable {
        guard object.type == MSGPACK_OBJECT_MAP else {
            throw WireError(.malformedHeader, field: "nt", "expected a map, got \(msgpackTypeName(object))")
        }
        var version: UInt64?
        var nodes: [NodeInfo]?
        var chains: [ReplicaChain] = []
        var base: UInt64?
        var catchingUp: msgpack_object?
        var seen: UInt32 = 0
        for entry in UnsafeBufferPointer(start: object.via.map.ptr, count: Int(object.via.map.size)) {
            guard entry.key.type == MSGPACK_OBJECT_STR else {
                throw WireError(.malformedHeader, field: "nt", "a key of the node table is not a string")
            }
            guard let field = NodeTableField.named(msgpackBytes(entry.key.via.str), inNode: false) else { continue }
            guard seen & field.bit == 0 else {
                throw WireError(.malformedHeader, field: "nt.\(field.name)", "the key appears twice")
            }
            seen |= field.bit
            switch field {
            case .version: version = try unsigned(entry.val, max: .max, field: "nt.ver")
            case .chains: chains = try chainList(entry.val)
            case .base: base = try unsigned(entry.val, max: .max, field: "nt.base")
            case .catchingUp: catchingUp = entry.val
            default: nodes = try nodeList(entry.val)
            }
        }
        guard let version else { throw WireError(.missingField, field: "nt.ver", "the node table has no version") }
        guard let nodes else { throw WireError(.missingField, field: "nt.nodes", "the node table has no node list") }
        if let base, base >= version {
            throw WireError(.malformedHeader, field: "nt.base", "a change from version \(base) to version \(version) does not go forward")
        }
        if let catchingUp { try markCatchingUp(catchingUp, in: &chains) }
        return NodeTable(version: version, nodes: nodes, chains: chains, base: base)
    }

    /// Reads `catchup`: `[lower, upper, n]` per chain whose last `n` servers are still receiving
    /// their copy; each names a chain of `chains` and leaves it its primary.
    func markCatchingUp(_ object: msgpack_object, in chains: inout [ReplicaChain]) throws(WireError) {
        let entries = try array(object, field: "nt.catchup")
        guard entries.count <= chains.count else {
            throw WireError(.tooLarge, field: "nt.catchup", "\(entries.count) entries for \(chains.count) chains")
        }
        for (index, entry) in entries.enumerated() {
            let path = "nt.catchup[\(index)]"
            let parts = try array(entry, field: path)
            guard parts.count == 3 else {
                throw WireError(.malformedHeader, field: path, "expected [lower, upper, servers catching up], got \(parts.count) entries")
            }
            let lower = try unsigned(parts[0], max: .max, field: "\(path)[0]")
            let upper = try unsigned(parts[1], max: .max, field: "\(path)[1]")
            guard let chain = chains.firstIndex(where: { $0.range.lowerBound == lower && $0.range.upperBound == upper }) else {
                throw WireError(.malformedHeader, field: path, "no chain holds [\(lower), \(upper))")
            }
            let count = try unsigned(parts[2], max: UInt64(chains[chain].nodes.count - 1), field: "\(path)[2]")
            guard count >= 1 else {
                throw WireError(.malformedHeader, field: "\(path)[2]", "a chain listed as catching up has at least one server catching up")
            }
            chains[chain].catchingUp = Int(count)
        }
    }

    func chainList(_ object: msgpack_object) throws(WireError) -> [ReplicaChain] {
        let entries = try array(object, field: "nt.chains")
        guard entries.count <= limits.maxNodes * limits.maxRangesPerNode else {
            throw WireError(.tooLarge, field: "nt.chains", "\(entries.count) chains exceed the limit")
        }
        var chains: [ReplicaChain] = []
        chains.reserveCapacity(entries.count)
        for (index, entry) in entries.enumerated() {
            let path = "nt.chains[\(index)]"
            let parts = try array(entry, field: path)
            guard parts.count >= 3, parts.count <= 2 + limits.maxNodes else {
                throw WireError(.malformedHeader, field: path, "expected [lower, upper, primary, replicas…], got \(parts.count) entries")
            }
            let lower = try unsigned(parts[0], max: .max, field: "\(path)[0]")
            let upper = try unsigned(parts[1], max: .max, field: "\(path)[1]")
            guard lower <= upper else {
                throw WireError(.malformedHeader, field: path, "lower bound \(lower) exceeds upper bound \(upper)")
            }
            var nodes: [NodeID] = []
            for position in 2..<parts.count {
                let id = try nodeID(parts[position], field: "\(path)[\(position)]", unassignedAllowed: false)
                guard !nodes.contains(id) else {
                    throw WireError(.malformedHeader, field: "\(path)[\(position)]", "\(id) appears twice in one chain")
                }
                nodes.append(id)
            }
            chains.append(ReplicaChain(range: KeyRange(lower, upper), nodes: nodes))
        }
        return chains
    }

    func nodeList(_ object: msgpack_object) throws(WireError) -> [NodeInfo] {
        let entries = try array(object, field: "nt.nodes")
        guard entries.count <= limits.maxNodes else {
            throw WireError(.tooLarge, field: "nt.nodes", "\(entries.count) nodes exceed the limit of \(limits.maxNodes)")
        }
        var nodes: [NodeInfo] = []
        nodes.reserveCapacity(entries.count)
        for (index, entry) in entries.enumerated() {
            let node = try self.node(entry, index: index)
            if let previous = nodes.last, previous.id >= node.id {
                throw WireError(
                    .malformedHeader, field: "nt.nodes[\(index)].id",
                    "node ids must be strictly ascending: \(node.id.rawValue) follows \(previous.id.rawValue)")
            }
            nodes.append(node)
        }
        return nodes
    }

    func node(_ object: msgpack_object, index: Int) throws(WireError) -> NodeInfo {
        let path = "nt.nodes[\(index)]"
        guard object.type == MSGPACK_OBJECT_MAP else {
            throw WireError(.malformedHeader, field: path, "expected a map, got \(msgpackTypeName(object))")
        }
        var id: UInt32?
        var role: NodeRole?
        var rank: UInt32?
        var endpoint: String?
        var ranges: [KeyRange] = []
        var routingID: [UInt8]?
        var publicKey: CurveKey?
        var seen: UInt32 = 0
        for entry in UnsafeBufferPointer(start: object.via.map.ptr, count: Int(object.via.map.size)) {
            guard entry.key.type == MSGPACK_OBJECT_STR else {
                throw WireError(.malformedHeader, field: path, "a key of the node map is not a string")
            }
            guard let field = NodeTableField.named(msgpackBytes(entry.key.via.str), inNode: true) else { continue }
            guard seen & field.bit == 0 else {
                throw WireError(.malformedHeader, field: "\(path).\(field.name)", "the key appears twice")
            }
            seen |= field.bit
            let fieldPath = "\(path).\(field.name)"
            switch field {
            case .id: id = try nodeID(entry.val, field: fieldPath, unassignedAllowed: false).rawValue
            case .role: role = try self.role(entry.val, field: fieldPath)
            case .rank: rank = UInt32(try unsigned(entry.val, max: UInt64(UInt32.max), field: fieldPath))
            case .endpoint: endpoint = try string(entry.val, field: fieldPath)
            case .routingID: routingID = try self.routingID(entry.val, field: fieldPath)
            case .publicKey:
                let bytes = try binary(entry.val, maxBytes: CurveKey.byteCount, field: fieldPath)
                guard let key = CurveKey(bytes: bytes) else {
                    throw WireError(.malformedHeader, field: fieldPath, "a public key has \(CurveKey.byteCount) bytes, not \(bytes.count)")
                }
                publicKey = key
            default: ranges = try rangeList(entry.val, path: fieldPath)
            }
        }
        guard let id else { throw WireError(.missingField, field: "\(path).id", "the node has no id") }
        guard let role else { throw WireError(.missingField, field: "\(path).role", "the node has no role") }
        guard let rank else { throw WireError(.missingField, field: "\(path).rank", "the node has no rank") }
        guard let endpoint else { throw WireError(.missingField, field: "\(path).ep", "the node has no endpoint") }
        return NodeInfo(
            id: NodeID(id), role: role, rank: rank, endpoint: endpoint, ranges: ranges, routingID: routingID, publicKey: publicKey)
    }

    /// A routing id as ZeroMQ allows a peer to choose one: 1 to 255 bytes, the first not zero
    /// (libzmq gives ids starting with a zero byte to peers that chose none).
    func routingID(_ object: msgpack_object, field: @autoclosure () -> String) throws(WireError) -> [UInt8] {
        let bytes = try binary(object, maxBytes: 255, field: field())
        guard let first = bytes.first, first != 0 else {
            throw WireError(.malformedHeader, field: field(), "a routing id is not empty and does not start with a zero byte")
        }
        return bytes
    }

    /// A msgpack `bin` of at most `maxBytes` bytes.
    func binary(_ object: msgpack_object, maxBytes: Int, field: @autoclosure () -> String) throws(WireError) -> [UInt8] {
        guard object.type == MSGPACK_OBJECT_BIN else {
            throw WireError(.malformedHeader, field: field(), "expected binary, got \(msgpackTypeName(object))")
        }
        let bytes = msgpackBytes(object.via.bin)
        guard bytes.count <= maxBytes else {
            throw WireError(.tooLarge, field: field(), "\(bytes.count) bytes exceed the limit of \(maxBytes)")
        }
        return Array(bytes)
    }

    func rangeList(_ object: msgpack_object, path: String) throws(WireError) -> [KeyRange] {
        let entries = try array(object, field: path)
        guard entries.count <= limits.maxRangesPerNode else {
            throw WireError(.tooLarge, field: path, "\(entries.count) ranges exceed the limit of \(limits.maxRangesPerNode)")
        }
        var ranges: [KeyRange] = []
        ranges.reserveCapacity(entries.count)
        for (index, entry) in entries.enumerated() {
            let range = try keyRange(entry, field: "\(path)[\(index)]")
            if let previous = ranges.last, previous.upperBound > range.lowerBound {
                throw WireError(
                    .malformedHeader, field: "\(path)[\(index)]",
                    "ranges must be sorted and disjoint: \(range) follows \(previous)")
            }
            ranges.append(range)
        }
        return ranges
    }
}
