import CMsgPack

/// Decoding of the header fields and flags the communication filters add (docs/PROTOCOL.md, "Filters").
extension HeaderReader {
    /// The most arguments a range function call may carry.
    static let maxArguments = 16

    /// `cz`: one uncompressed size per payload frame, each within the frame limit.
    func compressedSizes(_ object: msgpack_object) throws(WireError) -> [UInt32] {
        let entries = try array(object, field: "cz")
        guard (1...3).contains(entries.count) else {
            throw WireError(.malformedHeader, field: "cz", "expected 1 to 3 sizes (one per payload frame), got \(entries.count)")
        }
        var sizes: [UInt32] = []
        sizes.reserveCapacity(entries.count)
        for (index, entry) in entries.enumerated() {
            let size = try unsigned(entry, max: UInt64(UInt32.max), field: "cz[\(index)]")
            guard size <= UInt64(limits.maxFrameBytes) else {
                throw WireError(.tooLarge, field: "cz[\(index)]", "\(size) bytes exceed the frame limit of \(limits.maxFrameBytes)")
            }
            sizes.append(UInt32(size))
        }
        return sizes
    }

    /// `a`: a short array of numbers (integers are accepted and widened).
    func arguments(_ object: msgpack_object) throws(WireError) -> [Double] {
        let entries = try array(object, field: "a")
        guard entries.count <= HeaderReader.maxArguments else {
            throw WireError(.tooLarge, field: "a", "\(entries.count) arguments exceed the limit of \(HeaderReader.maxArguments)")
        }
        var arguments: [Double] = []
        arguments.reserveCapacity(entries.count)
        for (index, entry) in entries.enumerated() {
            switch entry.type {
            case MSGPACK_OBJECT_FLOAT32, MSGPACK_OBJECT_FLOAT64:
                guard entry.via.f64.isFinite else {
                    throw WireError(.malformedHeader, field: "a[\(index)]", "the argument is not a finite number")
                }
                arguments.append(entry.via.f64)
            case MSGPACK_OBJECT_POSITIVE_INTEGER, MSGPACK_OBJECT_NEGATIVE_INTEGER:
                arguments.append(Double(try signed(entry, field: "a[\(index)]")))
            default:
                throw WireError(.malformedHeader, field: "a[\(index)]", "expected a number, got \(msgpackTypeName(entry))")
            }
        }
        return arguments
    }

    /// The filter flags must fit the kind: key caching on keyed requests, half floats on values.
    static func checkFilterFlags(_ flags: MessageFlags, kind: MessageKind) throws(WireError) {
        let keyFlags = flags.intersection([.keysCached, .cacheKeys])
        if !keyFlags.isEmpty {
            guard keyFlags != [.keysCached, .cacheKeys] else {
                throw WireError(.malformedHeader, field: "f", "keysCached and cacheKeys exclude each other")
            }
            guard kind == .push || kind == .pull, !flags.contains(.rangeRequest) else {
                throw WireError(.malformedHeader, field: "f", "key caching is set on a \(kind) message, which names no keys")
            }
        }
        if flags.contains(.float16Values), kind != .push, kind != .pullReply {
            throw WireError(.malformedHeader, field: "f", "float16Values is set on a \(kind) message, which carries no values")
        }
    }
}
