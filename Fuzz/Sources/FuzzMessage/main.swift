import FuzzSupport
import ParameterServer
import ZeroMQ

/// Message decoding and payload validation: any frames decode or are refused; a decoded message
/// encodes to frames that decode to the same header and payload; a refused one still yields the
/// identity its error reply echoes, or none.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let frames = FuzzInput(start, count).frames.map { Frame(bytes: $0) }
    guard !frames.isEmpty else { return 0 }
    let message: Message
    do {
        message = try MessageCodec.decode(frames)
    } catch {
        _ = HeaderCodec.identity(of: frames[0])
        // Filter-encoded messages go through the filters' own decoding.
        if let encoded = try? MessageCodec.decodeEncoded(frames), encoded.header.compressedSizes != nil {
            _ = try? SnappyCompression.decompress(encoded)
        }
        return 0
    }
    let again: Message
    do {
        again = try MessageCodec.decode(MessageCodec.encode(message))
    } catch {
        fatalError("a decoded message encodes to frames that do not decode: \(error)")
    }
    fuzzCheck(again.header == message.header, "decode → encode → decode changed the header")
    fuzzCheck(again.payloadFrames.map(\.bytes) == message.payloadFrames.map(\.bytes), "the payload changed")
    fuzzCheck(message.keyCount <= WireLimits.default.maxKeysPerMessage, "more keys than the limit")
    return 0
}
