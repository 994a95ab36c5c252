import ZeroMQ

/// Turns a ``Message`` into the frames of one multipart ZeroMQ message and back.
///
/// The frames are the header, then the payload frames ``PayloadLayout`` names for the header, in
/// that order. A ROUTER socket puts the peer's identity in front; strip it before decoding
/// (`decode(frames.dropFirst())`).
public enum MessageCodec {
    /// The frames of `message`: its encoded header, then whichever of keys, values and lengths it
    /// carries, in that order. Payload frames are passed on as they are, without a copy.
    ///
    /// Encoding does not validate: a message whose frames disagree with its header is sent as it
    /// is, and the receiver rejects it.
    public static func encode(_ message: Message) -> [Frame] {
        [HeaderCodec.encode(message.header)] + message.payloadFrames
    }

    /// Decodes and validates the frames of one message (without a ROUTER identity frame).
    ///
    /// Checks, in order: there is a non-empty header frame; the header (see ``HeaderCodec``);
    /// the frame count for the kind and flags; every payload frame against
    /// ``WireLimits/maxFrameBytes``; the keys frame is `8 × n` bytes of strictly ascending keys,
    /// inside `r` when `r` is set, and never the reserved key `UInt64.max`; the values frame is
    /// `4 × n × vl` bytes, or with ``MessageFlags/hasLengths`` `4 × Σ lengths` where the lengths
    /// frame is `4 × n` bytes of entries no larger than ``WireLimits/maxValueLength``.
    ///
    /// A filter-encoded message (``Header/isFilterEncoded``) is rejected with
    /// ``ErrorCode/unsupportedEncoding``: only a ``FilterChain`` can decode one.
    public static func decode<Frames: RandomAccessCollection>(
        _ frames: Frames, limits: WireLimits = .default
    ) throws(WireError) -> Message where Frames.Element == Frame {
        let message = try decodeEncoded(frames, limits: limits)
        guard !message.header.isFilterEncoded else {
            throw WireError(
                .unsupportedEncoding, field: "f",
                "the message uses filter encodings (compression, cached keys or half floats) this receiver does not accept")
        }
        try validatePayload(message, limits: limits)
        return message
    }

    /// Decodes the header and assigns the payload frames, checking the frame count, the frame
    /// limit and that `cz` names one size per frame, but not the payload itself: a filter-encoded
    /// message's frames are checked with ``validatePayload(_:limits:)`` once they are decoded.
    public static func decodeEncoded<Frames: RandomAccessCollection>(
        _ frames: Frames, limits: WireLimits = .default
    ) throws(WireError) -> Message where Frames.Element == Frame {
        guard let headerFrame = frames.first else {
            throw WireError(.malformedFrame, field: "frames", "the message has no frames")
        }
        guard !headerFrame.isEmpty else {
            throw WireError(.malformedFrame, field: "frame 0 (header)", "the header frame is empty")
        }
        let header = try HeaderCodec.decode(headerFrame, limits: limits)
        let layout = PayloadLayout(for: header)
        guard frames.count == 1 + layout.frameCount else {
            throw WireError(
                .malformedFrame, field: "frames",
                "a \(header.kind) message\(flagNote(header)) has \(1 + layout.frameCount) frames, got \(frames.count)")
        }
        if let sizes = header.compressedSizes, sizes.count != layout.frameCount {
            throw WireError(
                .malformedHeader, field: "cz",
                "\(sizes.count) sizes for \(layout.frameCount) payload frames")
        }
        var payload = frames.dropFirst().makeIterator()
        var message = Message(header: header)
        if layout.hasKeys { message.keys = payload.next() }
        if layout.hasValues { message.values = payload.next() }
        if layout.hasLengths { message.lengths = payload.next() }

        for (index, frame) in frames.dropFirst().enumerated() where frame.count > limits.maxFrameBytes {
            throw WireError(
                .tooLarge, field: frameName(index + 1, layout: layout),
                "\(frame.count) bytes exceed the frame limit of \(limits.maxFrameBytes)")
        }
        return message
    }

    /// The payload checks of ``decode(_:limits:)``, for a message whose frames are plain.
    public static func validatePayload(_ message: Message, limits: WireLimits = .default) throws(WireError) {
        let header = message.header
        let layout = PayloadLayout(for: header)
        if let keys = message.keys {
            try PayloadValidation.checkKeys(
                keys, count: Int(header.keyCount), range: header.keyRange, field: frameName(1, layout: layout))
        }
        if let values = message.values {
            let valuesIndex = layout.valuesFrameIndex!
            if let lengths = message.lengths {
                let total = try PayloadValidation.checkLengths(
                    lengths, count: Int(header.keyCount), limits: limits,
                    field: frameName(layout.lengthsFrameIndex!, layout: layout))
                try PayloadValidation.checkValues(
                    values, floats: total, limits: limits, field: frameName(valuesIndex, layout: layout),
                    because: "the lengths frame sums to \(total) floats")
            } else {
                // Both factors are at most UInt32.max, so the product can exceed Int.max only by
                // overflowing; saturate so that the frame limit rejects it.
                let (product, overflow) = Int(header.keyCount).multipliedReportingOverflow(by: Int(header.valueLength))
                let floats = overflow ? Int.max : product
                try PayloadValidation.checkValues(
                    values, floats: floats, limits: limits, field: frameName(valuesIndex, layout: layout),
                    because: "n = \(header.keyCount) keys × vl = \(header.valueLength)")
            }
        }
    }

    /// A frame's name in error messages, e.g. `frame 2 (values)`.
    static func frameName(_ index: Int, layout: PayloadLayout) -> String {
        switch index {
        case 0: return "frame 0 (header)"
        case layout.keysFrameIndex: return "frame \(index) (keys)"
        case layout.valuesFrameIndex: return "frame \(index) (values)"
        case layout.lengthsFrameIndex: return "frame \(index) (lengths)"
        default: return "frame \(index)"
        }
    }

    private static func flagNote(_ header: Header) -> String {
        var notes: [String] = []
        if header.flags.contains(.rangeRequest), header.kind == .pull || header.kind == .pullReply {
            notes.append("rangeRequest")
        }
        if header.flags.contains(.hasLengths), header.kind.payload != .none, header.kind.payload != .keys {
            notes.append("hasLengths")
        }
        return notes.isEmpty ? "" : " with " + notes.joined(separator: ", ")
    }
}
