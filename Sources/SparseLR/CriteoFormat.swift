#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Criteo Display Advertising Challenge TSV: exactly 40 tab-separated fields,
/// `label, I1…I13, C1…C26`.
///
/// Every field becomes one hashed token with value 1: `Cj=value` for categories (`Cj=` when empty)
/// and `Ij=bucket` for integers, where the bucket is `floor(ln(v)²)` for `v > 2`, `v` itself otherwise
/// (negative counts included), and `NA` when empty. Categories are taken as raw bytes; integers and
/// the label (`0` or `1`) are validated.
public struct CriteoFormat: ExampleLineFormat, Sendable {
    /// The number of tab-separated fields of every line.
    public static let fieldCount = 40
    /// The field names, 1-based field `k` at index `k − 1`: `label`, `I1`…`I13`, `C1`…`C26`.
    public static let fieldNames: [String] = ["label"] + (1...13).map { "I\($0)" } + (1...26).map { "C\($0)" }

    /// The hasher turning tokens into keys.
    public let hasher: FeatureHasher
    /// The hash state after `"<name>="` for each feature field (all but the label).
    private let fieldStates: [TokenHash]
    /// The keys of the integer fields' most common tokens, so that most integers cost a table read
    /// instead of hashing their decimal text: per integer field `Ij`, the key of `Ij=NA` and then of
    /// `Ij=b` for every bucket `b` in `0..<bucketKeyCount` (``integerKeyStride`` entries a field).
    private let integerKeys: [UInt64]
    /// Buckets with a precomputed key: every count below 4096 has a bucket below 70.
    static let bucketKeyCount = 128
    static let integerKeyStride = 1 + bucketKeyCount

    /// Creates the format, hashing into `hasher`'s key space.
    public init(hasher: FeatureHasher = FeatureHasher(bits: 20)) {
        self.hasher = hasher
        let states = Self.fieldNames.dropFirst().map { hasher.fieldState($0) }
        self.fieldStates = states
        self.integerKeys = states.prefix(13).flatMap { field in
            var missing = field
            missing.combine(UInt8(ascii: "N"))
            missing.combine(UInt8(ascii: "A"))
            return [hasher.key(missing)] + (0..<Int64(Self.bucketKeyCount)).map { bucket in
                var state = field
                state.combine(decimal: bucket)
                return hasher.key(state)
            }
        }
    }

    /// The bucket of an integer count: `floor(ln(v)²)` when `v > 2`, else `v`.
    @inlinable
    public static func integerBucket(_ value: Int64) -> Int64 {
        guard value > 2 else { return value }
        let logarithm = log(Double(value))
        return Int64((logarithm * logarithm).rounded(.down))
    }

    /// ``integerBucket(_:)`` of every count below 4096 (all below ``bucketKeyCount``), one byte each
    /// so that the table takes 4 KiB of the cache: most counts cost a read instead of a logarithm.
    static let smallCountBuckets: [UInt8] = (0..<4096).map { UInt8(integerBucket(Int64($0))) }

    /// The number of keys of every line: one per feature field.
    static let keysPerLine = fieldCount - 1

    public func appendFeatures(
        from line: UnsafeRawBufferPointer, to batch: inout ExampleBatch
    ) throws(LineFormatError) -> Float {
        try withUnsafeTemporaryAllocation(of: Int.self, capacity: Self.fieldCount + 1) {
            (starts) throws(LineFormatError) -> Float in
            // Field k spans starts[k] ..< starts[k + 1] - 1; the line's end counts as a separator.
            let found = Self.splitFields(line, starts: starts)
            guard found == Self.fieldCount else {
                throw LineFormatError(detail: "expected \(Self.fieldCount) tab-separated fields, found \(found)")
            }
            let label = UnsafeRawBufferPointer(rebasing: line[starts[0]..<(starts[1] - 1)])
            guard label.count == 1, label[0] == UInt8(ascii: "0") || label[0] == UInt8(ascii: "1") else {
                throw LineFormatError(field: 1, fieldName: "label", expected: "a label 0 or 1", found: label)
            }
            // The example's keys gather on the stack and go into the batch in one copy.
            return try withUnsafeTemporaryAllocation(of: UInt64.self, capacity: Self.keysPerLine) {
                (keys) throws(LineFormatError) -> Float in
                try Self.smallCountBuckets.withUnsafeBufferPointer { (small) throws(LineFormatError) in
                    try integerKeys.withUnsafeBufferPointer { (integerKeys) throws(LineFormatError) in
                        try fieldStates.withUnsafeBufferPointer { (states) throws(LineFormatError) in
                            try Self.hashFeatures(
                                of: line, starts: UnsafeBufferPointer(starts), into: keys, hasher: hasher,
                                tables: Tables(smallCountBuckets: small, integerKeys: integerKeys, fieldStates: states))
                        }
                    }
                }
                batch.appendFeatures(keys: UnsafeBufferPointer(keys), value: 1)
                return label[0] == UInt8(ascii: "1") ? 1 : 0
            }
        }
    }

    /// The format's lookup tables, borrowed for one line.
    struct Tables {
        var smallCountBuckets: UnsafeBufferPointer<UInt8>
        var integerKeys: UnsafeBufferPointer<UInt64>
        var fieldStates: UnsafeBufferPointer<TokenHash>
    }

    /// Writes the key of each feature field (fields 1 to 39 of a line split by ``splitFields(_:starts:)``)
    /// to `keys[field - 1]`, or throws for a field that is not an integer where one must be.
    ///
    /// A function of its own, with every table passed in, so that the loops keep their state in
    /// registers.
    @inline(__always)
    static func hashFeatures(
        of line: UnsafeRawBufferPointer, starts: UnsafeBufferPointer<Int>, into keys: UnsafeMutableBufferPointer<UInt64>,
        hasher: FeatureHasher, tables: Tables
    ) throws(LineFormatError) {
        func bytes(_ field: Int) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(rebasing: line[starts[field]..<(starts[field &+ 1] &- 1)])
        }
        let small = tables.smallCountBuckets
        for field in 1...13 {
            let text = bytes(field)
            let base = (field &- 1) &* integerKeyStride
            if text.isEmpty {
                keys[field &- 1] = tables.integerKeys[base]
                continue
            }
            guard let value = ByteParsing.integer(text) else {
                throw LineFormatError(field: field + 1, fieldName: fieldNames[field], expected: "an integer", found: text)
            }
            if value >= 0 && value < Int64(small.count) {
                keys[field &- 1] = tables.integerKeys[base &+ 1 &+ Int(small[Int(value)])]
            } else {
                let bucket = integerBucket(value)
                if bucket >= 0 && bucket < Int64(bucketKeyCount) {
                    keys[field &- 1] = tables.integerKeys[base &+ 1 &+ Int(bucket)]
                } else {
                    var state = tables.fieldStates[field &- 1]
                    state.combine(decimal: bucket)
                    keys[field &- 1] = hasher.key(state)
                }
            }
        }
        // The categorical fields four at a time: FNV-1a is one multiplication per byte, each
        // waiting for the last, so four fields' chains side by side keep the multiplier busy
        // (the keys are those of hashing each field alone).
        let states = tables.fieldStates
        var field = 14
        while field &+ 4 <= fieldCount {
            var lanes = (states[field &- 1], states[field], states[field &+ 1], states[field &+ 2])
            TokenHash.combine(&lanes, (bytes(field), bytes(field &+ 1), bytes(field &+ 2), bytes(field &+ 3)))
            keys[field &- 1] = hasher.key(lanes.0)
            keys[field] = hasher.key(lanes.1)
            keys[field &+ 1] = hasher.key(lanes.2)
            keys[field &+ 2] = hasher.key(lanes.3)
            field &+= 4
        }
        while field < fieldCount {
            var state = states[field &- 1]
            state.combine(bytes(field))
            keys[field &- 1] = hasher.key(state)
            field &+= 1
        }
    }

    /// Records where each field starts (and, one past the last, where the line ends plus one) and
    /// returns how many fields the line has; stops counting past `fieldCount`.
    ///
    /// A byte of a word XOR `0x09…09` is zero exactly where the line has a tab, and
    /// `~(((x & 0x7f…7f) + 0x7f…7f) | x | 0x7f…7f)` sets bit 7 of exactly those bytes (no carry
    /// crosses a byte); a multiplication gathers those eight bits into one byte. Sixty-four bytes
    /// make one mask without a branch, and each tab then costs one bit scan: the loop over a mask's
    /// tabs ends once per 64 bytes rather than once per word, so the branch predictor misses less.
    static func splitFields(_ line: UnsafeRawBufferPointer, starts: UnsafeMutableBufferPointer<Int>) -> Int {
        starts[0] = 0
        guard let base = line.baseAddress else {
            starts[1] = 1
            return 1
        }
        var fields = 1
        var offset = 0
        let count = line.count
        @inline(__always) func tabMask(at offset: Int) -> UInt64 {
            let tabs: UInt64 = 0x0909_0909_0909_0909
            let low7: UInt64 = 0x7f7f_7f7f_7f7f_7f7f
            let x = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) ^ tabs
            let found = ~(((x & low7) &+ low7) | x | low7)
            return ((found >> 7) &* 0x0102_0408_1020_4080) >> 56
        }
        while offset &+ 8 <= count {
            // Eight words at a time, fewer at the end of the line.
            let words = min(8, (count &- offset) &>> 3)
            var mask: UInt64 = 0
            if words == 8 {
                for word in 0..<8 { mask |= tabMask(at: offset &+ word &* 8) << UInt64(word &* 8) }
            } else {
                for word in 0..<words { mask |= tabMask(at: offset &+ word &* 8) << UInt64(word &* 8) }
            }
            while mask != 0 {
                if fields == fieldCount { return fields + 1 }
                starts[fields] = offset &+ mask.trailingZeroBitCount &+ 1
                fields &+= 1
                mask &= mask &- 1
            }
            offset &+= words &* 8
        }
        while offset < count {
            if line[offset] == UInt8(ascii: "\t") {
                if fields == fieldCount { return fields + 1 }
                starts[fields] = offset + 1
                fields += 1
            }
            offset += 1
        }
        starts[fields] = count + 1
        return fields
    }
}

extension TokenHash {
    /// Adds `bytes.0` to `states.0`, `bytes.1` to `states.1`, and so on: four states, each exactly as
    /// ``combine(_:)-(UnsafeRawBufferPointer)`` would leave it, with their bytes interleaved up to the
    /// shortest so that the four dependent chains of multiplications overlap.
    @inlinable
    public static func combine(
        _ states: inout (TokenHash, TokenHash, TokenHash, TokenHash),
        _ bytes: (UnsafeRawBufferPointer, UnsafeRawBufferPointer, UnsafeRawBufferPointer, UnsafeRawBufferPointer)
    ) {
        let prime: UInt64 = 0x0000_0100_0000_01b3
        var (a, b, c, d) = (states.0.state, states.1.state, states.2.state, states.3.state)
        // Two-argument `min`s: the variadic one builds an array for its arguments on every call.
        let common = min(min(bytes.0.count, bytes.1.count), min(bytes.2.count, bytes.3.count))
        var index = 0
        while index < common {
            a = (a ^ UInt64(bytes.0[index])) &* prime
            b = (b ^ UInt64(bytes.1[index])) &* prime
            c = (c ^ UInt64(bytes.2[index])) &* prime
            d = (d ^ UInt64(bytes.3[index])) &* prime
            index &+= 1
        }
        (states.0.state, states.1.state, states.2.state, states.3.state) = (a, b, c, d)
        states.0.combine(UnsafeRawBufferPointer(rebasing: bytes.0[common...]))
        states.1.combine(UnsafeRawBufferPointer(rebasing: bytes.1[common...]))
        states.2.combine(UnsafeRawBufferPointer(rebasing: bytes.2[common...]))
        states.3.combine(UnsafeRawBufferPointer(rebasing: bytes.3[common...]))
    }

    /// Adds the decimal digits of `value` (with a leading `-` when negative), as text would have them.
    /// The digits are written backwards into a small buffer by dividing by the constant 10 (which
    /// compiles to a multiplication), then combined in reading order.
    @inlinable
    public mutating func combine(decimal value: Int64) {
        if value < 0 { combine(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var count = 0
            repeat {
                digits[19 - count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            combine(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(digits)[(20 - count)...]))
        }
    }
}
