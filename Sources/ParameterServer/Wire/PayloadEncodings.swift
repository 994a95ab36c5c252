/// Payload encodings a message may use instead of plain frames; each is one communication filter
/// that a peer can use or decline (docs/PROTOCOL.md, "Filters").
///
/// A request lists the encodings its sender accepts in the reply (header field `fa`); a responder
/// never uses one that is not listed, so a client that sends no `fa` always gets plain frames.
public struct PayloadEncodings: OptionSet, Hashable, Sendable {
    /// The bits as sent on the wire.
    public var rawValue: UInt32
    /// Wraps raw bits; unknown bits are kept and ignored.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Payload frames may be Snappy-compressed (sizes in `cz`).
    public static let snappy = PayloadEncodings(rawValue: 1 << 0)
    /// Values may be IEEE 754 half-precision floats (flag ``MessageFlags/float16Values``).
    public static let float16 = PayloadEncodings(rawValue: 1 << 1)
}

extension MessageFlags {
    /// The keys frame is omitted: the receiver takes the key list it cached under `kh` from this
    /// sender. A receiver that has no such list answers ``ErrorCode/keyCacheMiss``.
    public static let keysCached = MessageFlags(rawValue: 1 << 4)
    /// The sender asks the receiver to cache this message's key list under `kh`; a receiver that
    /// does so echoes `kh` in its reply, after which the sender may use ``keysCached``.
    public static let cacheKeys = MessageFlags(rawValue: 1 << 5)
    /// The values frame holds little-endian IEEE 754 half-precision floats, 2 bytes each.
    public static let float16Values = MessageFlags(rawValue: 1 << 6)
}

extension Header {
    /// Whether the payload frames are not plain: compressed, quantized, or keys taken from a cache.
    /// Such a message must be decoded by a ``FilterChain`` before its payload can be read.
    public var isFilterEncoded: Bool {
        compressedSizes != nil || flags.contains(.keysCached) || flags.contains(.float16Values)
    }
}
