import FuzzSupport
import ParameterServer
import ZeroMQ

/// Receive filters for tables 0 and 1 (the wire samples use 1) with every filter on, 2 floats per
/// key; made afresh for each input so that a finding replays on its own.
func receiveFilters() -> FilterChain {
    FilterChain(tables: [0, 1].map { id in
        (id: UInt32(id), filters: FilterSettings(keyCaching: true, keyCacheBytes: 4096, compression: true, quantization: true), valueLength: 2)
    })
}

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
        // Filter-encoded requests go through a server's receive filters (key cache, Snappy, half
        // floats) on a table that accepts them all; what comes out must be a valid message.
        guard let encoded = try? MessageCodec.decodeEncoded(frames) else { return 0 }
        var filters = receiveFilters()
        guard let decoded = try? filters.decodeRequest(encoded, from: encoded.header.sender) else { return 0 }
        do {
            try MessageCodec.validatePayload(decoded.message)
        } catch {
            fatalError("the receive filters let through a message that does not validate: \(error)")
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
