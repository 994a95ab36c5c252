/// A walk over msgpack bytes that checks their structure before msgpack-c sees them.
///
/// msgpack-c allocates `n × sizeof(msgpack_object)` as soon as it reads an array or map header
/// declaring `n` entries, so six hostile bytes (`0xdd ff ff ff ff …`) would make it reserve 96 GiB.
/// Every entry takes at least one byte, so a declared count larger than the bytes left is a lie
/// that this walk rejects before anything is allocated. It also rejects what msgpack-c would not
/// report as clearly: truncation, reserved type bytes, nesting deeper than ``maximumDepth``, and
/// bytes after the first object.
enum MessagePackStructureCheck {
    /// The deepest nesting accepted: a node table's ranges sit at depth 6 (header map, `nt` map,
    /// `nodes` array, node map, `ranges` array, range array); the rest is room for new fields.
    static let maximumDepth = 8

    /// Checks that `bytes` hold exactly one well-formed msgpack object whose declared sizes all fit.
    static func check(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard let base = bytes.baseAddress, bytes.count > 0 else {
            throw WireError(.malformedHeader, field: "header", "no bytes")
        }
        // On the stack: this runs for every message received.
        try withUnsafeTemporaryAllocation(of: Int.self, capacity: maximumDepth + 1) { (pending) throws(WireError) in
            try walk(base, count: bytes.count, pending: pending)
        }
    }

    /// The walk itself; `pending` holds the entries still expected at each open container level
    /// (a map counts keys and values).
    private static func walk(
        _ base: UnsafeRawPointer, count end: Int, pending: UnsafeMutableBufferPointer<Int>
    ) throws(WireError) {
        var offset = 0
        var depth = 0
        pending[0] = 1

        func fail(_ detail: String) -> WireError {
            WireError(.malformedHeader, field: "header", "\(detail) at byte \(offset)")
        }
        /// Reads a big-endian length of `width` bytes that follows the type byte at `offset`.
        func length(_ width: Int) throws(WireError) -> Int {
            guard offset + 1 + width <= end else { throw fail("truncated length") }
            var value = 0
            for i in 1...width { value = value << 8 | Int(base.load(fromByteOffset: offset + i, as: UInt8.self)) }
            return value
        }

        while depth >= 0 {
            if pending[depth] == 0 {
                depth -= 1
                continue
            }
            guard offset < end else { throw fail("truncated: \(pending[depth]) entries missing") }
            pending[depth] -= 1
            let type = base.load(fromByteOffset: offset, as: UInt8.self)
            var skip = 0  // bytes after the type byte (fixed fields, or a length field plus its body)
            var entries = 0  // for containers: the entries it declares
            var isContainer = false
            switch type {
            case 0x00...0x7f, 0xe0...0xff, 0xc0, 0xc2, 0xc3: skip = 0
            case 0x80...0x8f: isContainer = true; entries = 2 * Int(type & 0x0f)
            case 0x90...0x9f: isContainer = true; entries = Int(type & 0x0f)
            case 0xa0...0xbf: skip = Int(type & 0x1f)
            case 0xc1: throw fail("reserved type byte 0xc1")
            case 0xc4, 0xd9: skip = 1 + (try length(1))
            case 0xc5, 0xda: skip = 2 + (try length(2))
            case 0xc6, 0xdb: skip = 4 + (try length(4))
            case 0xc7: skip = 2 + (try length(1))
            case 0xc8: skip = 3 + (try length(2))
            case 0xc9: skip = 5 + (try length(4))
            case 0xca, 0xce, 0xd2: skip = 4
            case 0xcb, 0xcf, 0xd3: skip = 8
            case 0xcc, 0xd0: skip = 1
            case 0xcd, 0xd1: skip = 2
            case 0xd4: skip = 2
            case 0xd5: skip = 3
            case 0xd6: skip = 5
            case 0xd7: skip = 9
            case 0xd8: skip = 17
            case 0xdc: isContainer = true; entries = try length(2); skip = 2
            case 0xdd: isContainer = true; entries = try length(4); skip = 4
            case 0xde: isContainer = true; entries = 2 * (try length(2)); skip = 2
            case 0xdf: isContainer = true; entries = 2 * (try length(4)); skip = 4
            default: throw fail("unexpected type byte")
            }
            guard skip <= end - offset - 1 else {
                throw fail("declares \(skip) more bytes but only \(end - offset - 1) remain")
            }
            offset += 1 + skip
            if isContainer {
                // Each entry needs at least one byte: a larger count cannot be honest.
                guard entries <= end - offset else {
                    throw fail("container declares \(entries) entries but only \(end - offset) bytes remain")
                }
                guard entries > 0 else { continue }
                guard depth < maximumDepth else { throw fail("nesting deeper than \(maximumDepth)") }
                depth += 1
                pending[depth] = entries
            }
        }
        guard offset == end else {
            throw WireError(
                .malformedHeader, field: "header", "\(end - offset) trailing bytes after the header map")
        }
    }
}
