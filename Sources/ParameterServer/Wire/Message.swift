import ZeroMQ

/// One protocol message: a msgpack header frame followed by the binary payload frames its kind calls for.
///
/// On the wire the frames are, in order: `header`, then `keys`, `values` and `lengths` where present.
/// Which payload frames a kind carries is fixed by ``MessageKind/payload``; see docs/PROTOCOL.md.
public struct Message: Sendable {
    /// The decoded header.
    public var header: Header
    /// Sorted, unique, little-endian `UInt64` keys (`8 × keyCount` bytes).
    public var keys: Frame?
    /// Little-endian `Float32` values, `valueLength` per key (or per-key lengths when `.hasLengths` is set).
    public var values: Frame?
    /// Little-endian `UInt32` value counts per key, present only with ``MessageFlags/hasLengths``.
    public var lengths: Frame?

    /// Creates a message from a header and optional payload frames.
    public init(header: Header, keys: Frame? = nil, values: Frame? = nil, lengths: Frame? = nil) {
        self.header = header
        self.keys = keys
        self.values = values
        self.lengths = lengths
    }

    /// The payload frames in wire order: keys, values and lengths, those the message carries.
    public var payloadFrames: [Frame] {
        var frames: [Frame] = []
        frames.reserveCapacity(3)
        if let keys { frames.append(keys) }
        if let values { frames.append(values) }
        if let lengths { frames.append(lengths) }
        return frames
    }

    /// The number of keys the keys frame holds (0 without one).
    public var keyCount: Int { (keys?.count ?? 0) / 8 }

    /// The number of floats the values frame holds (0 without one).
    public var valueCount: Int { (values?.count ?? 0) / 4 }
}
