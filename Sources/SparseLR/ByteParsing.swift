/// Number parsing straight from bytes, so readers never build a `String` per field.
enum ByteParsing {
    /// A decimal integer with an optional `+` or `-` sign, or nil if `bytes` is not one or overflows.
    @inline(__always)
    static func integer(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        var index = 0
        var negative = false
        if let first = bytes.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            negative = first == UInt8(ascii: "-")
            index = 1
        }
        guard index < bytes.count else { return nil }
        var magnitude: UInt64 = 0
        if bytes.count &- index <= 18 {
            // At most 18 digits stay below 10^18 < Int64.max: no overflow to check.
            while index < bytes.count {
                let digit = bytes[index] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                magnitude = magnitude &* 10 &+ UInt64(digit)
                index &+= 1
            }
            return negative ? -Int64(magnitude) : Int64(magnitude)
        }
        while index < bytes.count {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            let (times10, overflowA) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflowB) = times10.addingReportingOverflow(UInt64(digit))
            guard !overflowA && !overflowB else { return nil }
            magnitude = sum
            index += 1
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }

    /// An unsigned decimal integer without a sign, or nil.
    @inline(__always)
    static func unsigned(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
        guard !bytes.isEmpty else { return nil }
        var value: UInt64 = 0
        for byte in bytes {
            let digit = byte &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            let (times10, overflowA) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflowB) = times10.addingReportingOverflow(UInt64(digit))
            guard !overflowA && !overflowB else { return nil }
            value = sum
        }
        return value
    }

    /// Powers of ten that a `Double` holds exactly.
    private static let exactPowersOfTen: [Double] = (0...22).map { exponent in
        var value = 1.0
        for _ in 0..<exponent { value *= 10 }
        return value
    }

    /// A decimal number (`-1`, `0.25`, `.5`, `3e-2`, `inf` is not accepted), or nil.
    ///
    /// The up to 19 leading significant digits are gathered into an integer and scaled once, which is
    /// exact to well within a `Float`'s precision.
    static func float(_ bytes: UnsafeRawBufferPointer) -> Float? {
        if bytes.count == 1, bytes[0] == UInt8(ascii: "1") { return 1 }
        var index = 0
        var negative = false
        if let first = bytes.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            negative = first == UInt8(ascii: "-")
            index = 1
        }
        var mantissa: UInt64 = 0
        var significantDigits = 0
        var decimalExponent = 0
        var sawDigit = false
        while index < bytes.count, case let digit = bytes[index] &- UInt8(ascii: "0"), digit < 10 {
            sawDigit = true
            if significantDigits < 19 {
                mantissa = mantissa * 10 + UInt64(digit)
                if mantissa > 0 { significantDigits += 1 }
            } else {
                decimalExponent += 1
            }
            index += 1
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            while index < bytes.count, case let digit = bytes[index] &- UInt8(ascii: "0"), digit < 10 {
                sawDigit = true
                if significantDigits < 19 {
                    mantissa = mantissa * 10 + UInt64(digit)
                    if mantissa > 0 { significantDigits += 1 }
                    decimalExponent -= 1
                }
                index += 1
            }
        }
        guard sawDigit else { return nil }
        if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
            guard let exponent = integer(UnsafeRawBufferPointer(rebasing: bytes[(index + 1)...])),
                  abs(exponent) < 10_000 else { return nil }
            decimalExponent += Int(exponent)
            index = bytes.count
        }
        guard index == bytes.count else { return nil }
        var value = Double(mantissa)
        if decimalExponent != 0 && mantissa != 0 {
            var remaining = decimalExponent
            while remaining > 22 { value *= 1e22; remaining -= 22 }
            while remaining < -22 { value /= 1e22; remaining += 22 }
            value = remaining >= 0 ? value * exactPowersOfTen[remaining] : value / exactPowersOfTen[-remaining]
        }
        return Float(negative ? -value : value)
    }

    /// Whether `byte` is a space or a tab.
    @inline(__always)
    static func isBlank(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }

    /// Whether the line holds only spaces and tabs.
    static func isBlank(line: UnsafeRawBufferPointer) -> Bool {
        line.allSatisfy(isBlank)
    }
}
