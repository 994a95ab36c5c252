import FuzzSupport
import ParameterServer

/// Node-table decoding: the input is the msgpack value of `nt` in a nodeTable message. A table that
/// decodes respects the limits, lists ids in ascending order with sorted disjoint ranges, and comes
/// back unchanged from encode → decode.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = FuzzInput(start, count)
    // {v: 1, k: nodeTable, s: 0, id: 1, nt: <input>}
    let prefix: [UInt8] = [0x85, 0xa1, 0x76, 0x01, 0xa1, 0x6b, MessageKind.nodeTable.rawValue, 0xa1, 0x73, 0x00, 0xa2, 0x69, 0x64, 0x01, 0xa2, 0x6e, 0x74]
    guard let header = try? HeaderCodec.decode(prefix + input.bytes), let table = header.nodeTable else { return 0 }
    let limits = WireLimits.default
    fuzzCheck(table.nodes.count <= limits.maxNodes, "more nodes than the limit")
    for (index, node) in table.nodes.enumerated() {
        fuzzCheck(limits.admits(node.id, unassignedAllowed: false), "node id \(node.id) beyond the limit")
        fuzzCheck(index == 0 || table.nodes[index - 1].id < node.id, "node ids not ascending")
        fuzzCheck(node.ranges.count <= limits.maxRangesPerNode, "more ranges than the limit")
        fuzzCheck(zip(node.ranges, node.ranges.dropFirst()).allSatisfy { $0.upperBound <= $1.lowerBound }, "ranges overlap")
    }
    for chain in table.chains {
        fuzzCheck(chain.nodes.allSatisfy { limits.admits($0, unassignedAllowed: false) }, "chain node beyond the limit")
        fuzzCheck(Set(chain.nodes).count == chain.nodes.count, "a node twice in a chain")
    }
    guard let again = try? HeaderCodec.decode(HeaderCodec.encode(header).bytes) else {
        fatalError("a decoded node table encodes to a header that does not decode")
    }
    fuzzCheck(again.nodeTable == table, "decode → encode → decode changed the node table")
    return 0
}
