/// The payload frames that follow a header, in wire order: keys, then values, then lengths.
///
/// ``MessageKind/payload`` gives the shape of a kind; the flags refine it:
/// ``MessageFlags/hasLengths`` adds a lengths frame after the values, and
/// ``MessageFlags/rangeRequest`` turns a pull into a header-only request for the keys of `r`, whose
/// reply then names the keys it returns (keys frame, then values); ``MessageFlags/keysCached``
/// drops the keys frame of a push or pull (the receiver holds the keys under `kh`).
public struct PayloadLayout: Hashable, Sendable {
    /// A keys frame follows the header.
    public var hasKeys: Bool
    /// A values frame follows (after the keys frame, if any).
    public var hasValues: Bool
    /// A lengths frame follows the values frame.
    public var hasLengths: Bool

    /// Creates a layout from its three parts.
    public init(hasKeys: Bool, hasValues: Bool, hasLengths: Bool) {
        self.hasKeys = hasKeys
        self.hasValues = hasValues
        self.hasLengths = hasLengths
    }

    /// The layout a header calls for.
    public init(for header: Header) {
        let isRange = header.flags.contains(.rangeRequest)
        switch header.kind.payload {
        case .none:
            self.init(hasKeys: false, hasValues: false, hasLengths: false)
        case .keys:
            self.init(hasKeys: !isRange && !header.flags.contains(.keysCached), hasValues: false, hasLengths: false)
        case .values:
            self.init(hasKeys: isRange, hasValues: true, hasLengths: header.flags.contains(.hasLengths))
        case .keysAndValues:
            self.init(
                hasKeys: !header.flags.contains(.keysCached), hasValues: true,
                hasLengths: header.flags.contains(.hasLengths))
        }
    }

    /// The number of payload frames.
    public var frameCount: Int { (hasKeys ? 1 : 0) + (hasValues ? 1 : 0) + (hasLengths ? 1 : 0) }

    /// The index of the keys frame in the full message (the header is frame 0).
    public var keysFrameIndex: Int? { hasKeys ? 1 : nil }

    /// The index of the values frame in the full message.
    public var valuesFrameIndex: Int? { hasValues ? (hasKeys ? 2 : 1) : nil }

    /// The index of the lengths frame in the full message.
    public var lengthsFrameIndex: Int? { hasLengths ? frameCount : nil }
}
