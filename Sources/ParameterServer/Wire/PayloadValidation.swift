import ZeroMQ

/// The checks ``MessageCodec`` runs on payload frames. Frames may start at any address (libzmq's
/// zero-copy receive does not align them), so every read is an unaligned load.
enum PayloadValidation {
    /// Checks that `frame` holds exactly `count` strictly ascending keys, inside `range` if given,
    /// none of them the reserved key `UInt64.max`.
    static func checkKeys(_ frame: Frame, count: Int, range: KeyRange?, field: @autoclosure () -> String) throws(WireError) {
        guard frame.count == count * 8 else {
            let note = frame.count % 8 == 0 ? "\(frame.count / 8) keys" : "not a multiple of 8"
            throw WireError(
                .sizeMismatch, field: field(), "\(frame.count) bytes (\(note)), but n = \(count) needs \(count * 8)")
        }
        guard count > 0 else { return }
        let (first, last, unsorted) = frame.withUnsafeBytes { bytes in
            (
                bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
                bytes.loadUnaligned(fromByteOffset: (count - 1) * 8, as: UInt64.self),
                firstUnsortedIndex(bytes.baseAddress!, count: count)
            )
        }
        if let index = unsorted {
            let (previous, current) = frame.withUnsafeBytes { bytes in
                (
                    bytes.loadUnaligned(fromByteOffset: (index - 1) * 8, as: UInt64.self),
                    bytes.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)
                )
            }
            let what = previous == current ? "duplicate key" : "keys out of order"
            throw WireError(.unsortedKeys, field: field(), "\(what) at index \(index): \(current) follows \(previous)")
        }
        // Sorted, so the ends bound every key.
        if let range, !(range.contains(first) && range.contains(last)) {
            let offender = range.contains(first) ? last : first
            throw WireError(.keyOutOfRange, field: field(), "key \(offender) lies outside r = \(range)")
        }
        if last == UInt64.max {
            throw WireError(.keyOutOfRange, field: field(), "key \(UInt64.max) is reserved")
        }
    }

    /// The index of the first key not greater than its predecessor, or `nil` if the keys strictly ascend.
    ///
    /// Runs on every push and pull, so it scans in blocks without a branch per key and only looks
    /// for the exact index once a block fails. The comparison is the borrow out of
    /// `previous - current` (bit 63 of `(~p & c) | (~(p ^ c) & (p - c))`): unlike an unsigned
    /// 64-bit compare, those operations vectorize on every x86-64, which makes the scan about twice
    /// as fast.
    @inline(__always)
    static func firstUnsortedIndex(_ base: UnsafeRawPointer, count: Int) -> Int? {
        let blockSize = 256
        var blockStart = 1
        while blockStart < count {
            let blockEnd = min(blockStart + blockSize, count)
            // Bit 63 stays set while every key of the block is above its predecessor.
            var ascending = UInt64.max
            for index in blockStart..<blockEnd {
                let previous = base.loadUnaligned(fromByteOffset: (index - 1) &* 8, as: UInt64.self)
                let current = base.loadUnaligned(fromByteOffset: index &* 8, as: UInt64.self)
                ascending &= (~previous & current) | (~(previous ^ current) & (previous &- current))
            }
            if ascending >> 63 == 0 {
                for index in blockStart..<blockEnd {
                    let previous = base.loadUnaligned(fromByteOffset: (index - 1) * 8, as: UInt64.self)
                    let current = base.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)
                    if previous >= current { return index }
                }
            }
            blockStart = blockEnd
        }
        return nil
    }

    /// Checks a lengths frame of `count` entries and returns the number of floats they add up to.
    static func checkLengths(_ frame: Frame, count: Int, limits: WireLimits, field: @autoclosure () -> String) throws(WireError) -> Int {
        guard frame.count == count * 4 else {
            throw WireError(.sizeMismatch, field: field(), "\(frame.count) bytes, but n = \(count) needs \(count * 4)")
        }
        let maximum = UInt32(clamping: limits.maxValueLength)
        let (total, largest) = frame.withUnsafeBytes { bytes in
            var total = 0
            var largest: UInt32 = 0
            for index in 0..<count {
                let length = bytes.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self)
                total &+= Int(length)
                largest = max(largest, length)
            }
            return (total, largest)
        }
        guard largest <= maximum else {
            throw WireError(.tooLarge, field: field(), "a value length of \(largest) exceeds the limit of \(maximum)")
        }
        return total
    }

    /// Checks that a values frame holds exactly `floats` 32-bit floats.
    static func checkValues(
        _ frame: Frame, floats: Int, limits: WireLimits, field: @autoclosure () -> String, because reason: @autoclosure () -> String
    ) throws(WireError) {
        let (expected, overflow) = floats.multipliedReportingOverflow(by: 4)
        guard !overflow, floats >= 0, expected <= limits.maxFrameBytes else {
            throw WireError(
                .tooLarge, field: field(),
                "\(reason()) needs \(expected) bytes, over the frame limit of \(limits.maxFrameBytes)")
        }
        guard frame.count == expected else {
            throw WireError(.sizeMismatch, field: field(), "\(frame.count) bytes, but \(reason()) needs \(expected)")
        }
    }
}
