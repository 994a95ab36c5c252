/// Where a header is encoded: a caller-provided stack buffer first, a heap buffer once that is full.
///
/// The msgpack-c packer appends through a callback, one call (and one `memmove`) per type byte and
/// per body. The fields every data message carries — the map, its short keys and its integers —
/// are written here directly instead, in the smallest form msgpack allows, the same bytes
/// msgpack-c writes.
struct PackBuffer {
    static let stackCapacity = 512

    var base: UnsafeMutableRawPointer
    var capacity: Int
    var count = 0
    var isOnHeap = false

    init(base: UnsafeMutableRawPointer, capacity: Int) {
        self.base = base
        self.capacity = capacity
    }

    @inline(__always)
    mutating func append(_ bytes: UnsafePointer<CChar>, _ length: Int) {
        if count + length > capacity { grow(toHold: count + length) }
        (base + count).copyMemory(from: bytes, byteCount: length)
        count += length
    }

    /// Room for `length` more bytes: where they go.
    @inline(__always)
    private mutating func reserve(_ length: Int) -> UnsafeMutableRawPointer {
        if count &+ length > capacity { grow(toHold: count + length) }
        return base + count
    }

    /// A type byte followed by `value` in big-endian order.
    @inline(__always)
    private mutating func append<Value: FixedWidthInteger>(type: UInt8, _ value: Value) {
        let out = reserve(1 + MemoryLayout<Value>.size)
        out.storeBytes(of: type, as: UInt8.self)
        out.storeBytes(of: value.bigEndian, toByteOffset: 1, as: Value.self)
        count &+= 1 + MemoryLayout<Value>.size
    }

    @inline(__always)
    private mutating func append(byte: UInt8) {
        reserve(1).storeBytes(of: byte, as: UInt8.self)
        count &+= 1
    }

    /// A msgpack map header for `entries` entries.
    @inline(__always)
    mutating func appendMapHeader(_ entries: Int) {
        if entries < 16 {
            append(byte: 0x80 | UInt8(truncatingIfNeeded: entries))
        } else if entries <= Int(UInt16.max) {
            append(type: 0xde, UInt16(truncatingIfNeeded: entries))
        } else {
            append(type: 0xdf, UInt32(truncatingIfNeeded: entries))
        }
    }

    /// An unsigned integer in its smallest msgpack form.
    @inline(__always)
    mutating func appendUnsigned(_ value: UInt64) {
        if value < 0x80 {
            append(byte: UInt8(truncatingIfNeeded: value))
        } else if value <= UInt64(UInt8.max) {
            append(type: 0xcc, UInt8(truncatingIfNeeded: value))
        } else if value <= UInt64(UInt16.max) {
            append(type: 0xcd, UInt16(truncatingIfNeeded: value))
        } else if value <= UInt64(UInt32.max) {
            append(type: 0xce, UInt32(truncatingIfNeeded: value))
        } else {
            append(type: 0xcf, value)
        }
    }

    /// A signed integer in its smallest msgpack form (a non-negative one as ``appendUnsigned(_:)``
    /// writes it, as msgpack-c's `msgpack_pack_int64` does).
    @inline(__always)
    mutating func appendSigned(_ value: Int64) {
        if value >= 0 {
            appendUnsigned(UInt64(value))
        } else if value >= -32 {
            append(byte: UInt8(truncatingIfNeeded: value))
        } else if value >= Int64(Int8.min) {
            append(type: 0xd0, Int8(truncatingIfNeeded: value))
        } else if value >= Int64(Int16.min) {
            append(type: 0xd1, Int16(truncatingIfNeeded: value))
        } else if value >= Int64(Int32.min) {
            append(type: 0xd2, Int32(truncatingIfNeeded: value))
        } else {
            append(type: 0xd3, value)
        }
    }

    /// A string of fewer than 32 bytes (a field name) as a msgpack fixstr, or longer ones as str 8.
    @inline(__always)
    mutating func appendShortString(_ text: StaticString) {
        let length = text.utf8CodeUnitCount
        guard length < 32 else {
            append(type: 0xd9, UInt8(length))
            text.utf8Start.withMemoryRebound(to: CChar.self, capacity: length) { append($0, length) }
            return
        }
        let out = reserve(1 + length)
        out.storeBytes(of: 0xa0 | UInt8(truncatingIfNeeded: length), as: UInt8.self)
        let bytes = text.utf8Start
        for index in 0..<length {
            out.storeBytes(of: bytes[index], toByteOffset: 1 &+ index, as: UInt8.self)
        }
        count &+= 1 &+ length
    }

    private mutating func grow(toHold needed: Int) {
        let newCapacity = max(capacity * 2, needed)
        let newBase = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        newBase.copyMemory(from: base, byteCount: count)
        releaseHeap()
        base = newBase
        capacity = newCapacity
        isOnHeap = true
    }

    mutating func releaseHeap() {
        if isOnHeap { base.deallocate() }
        isOnHeap = false
    }
}
