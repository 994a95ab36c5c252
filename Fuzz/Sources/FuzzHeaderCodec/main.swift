import FuzzSupport
import ParameterServer

/// Header codec: any bytes decode or are refused; a decoded header encodes to bytes that decode to
/// the same header, and encoding is stable from then on.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = FuzzInput(start, count)
    _ = HeaderCodec.identity(of: UnsafeRawBufferPointer(start: start, count: count))
    guard let header = try? HeaderCodec.decode(input.bytes) else { return 0 }
    let encoded = HeaderCodec.encode(header).bytes
    let again: Header
    do {
        again = try HeaderCodec.decode(encoded)
    } catch {
        fatalError("a decoded header encodes to bytes that do not decode: \(error)")
    }
    fuzzCheck(again == header, "decode → encode → decode changed the header")
    fuzzCheck(HeaderCodec.encode(again).bytes == encoded, "encoding is not stable")
    let limits = WireLimits.default
    fuzzCheck(limits.admits(header.sender), "sender \(header.sender) beyond the limit")
    fuzzCheck(header.origins.allSatisfy { limits.admits($0.server, unassignedAllowed: false) && limits.admits($0.sender, unassignedAllowed: false) }, "origin beyond the limit")
    fuzzCheck(Int(header.keyCount) <= limits.maxKeysPerMessage && Int(header.valueLength) <= limits.maxValueLength, "n or vl beyond the limit")
    fuzzCheck((header.clock?.count ?? 0) <= limits.maxNodes, "clk beyond the limit")
    return 0
}
