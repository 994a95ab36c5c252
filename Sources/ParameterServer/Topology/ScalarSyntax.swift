/// How unquoted scalars read as numbers and flags, shared by the loader and ``ParameterValue``.
enum ScalarSyntax {
    /// `true` or `false` in lower, title or upper case (the YAML 1.2 core schema).
    static func bool(_ text: String) -> Bool? {
        switch text {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default: return nil
        }
    }

    /// A decimal integer with an optional sign; `_` may group digits (`1_000_000`).
    static func int(_ text: String) -> Int? {
        guard let digits = integerDigits(text) else { return nil }
        return Int(digits)
    }

    /// A decimal integer without a minus sign that fits 64 unsigned bits; `_` may group digits.
    static func uint64(_ text: String) -> UInt64? {
        guard let digits = integerDigits(text), !digits.hasPrefix("-") else { return nil }
        return UInt64(digits.hasPrefix("+") ? String(digits.dropFirst()) : digits)
    }

    /// A finite decimal number (`0.1`, `-2`, `1e-3`, `.5`); infinities and NaN are not parameters.
    static func double(_ text: String) -> Double? {
        guard let cleaned = withoutDigitSeparators(text), !cleaned.isEmpty,
              cleaned.unicodeScalars.allSatisfy({ "0123456789+-.eE".unicodeScalars.contains($0) }),
              cleaned.unicodeScalars.contains(where: isDigit),
              let value = Double(cleaned), value.isFinite
        else { return nil }
        return value
    }

    private static func integerDigits(_ text: String) -> String? {
        guard let cleaned = withoutDigitSeparators(text) else { return nil }
        var body = Substring(cleaned)
        if body.first == "+" || body.first == "-" { body = body.dropFirst() }
        guard !body.isEmpty, body.unicodeScalars.allSatisfy(isDigit) else { return nil }
        return cleaned
    }

    /// `text` without the `_` that group digits, or `nil` when an `_` stands anywhere but between two digits.
    private static func withoutDigitSeparators(_ text: String) -> String? {
        let scalars = Array(text.unicodeScalars)
        var kept = String.UnicodeScalarView()
        for (index, scalar) in scalars.enumerated() {
            guard scalar == "_" else {
                kept.append(scalar)
                continue
            }
            guard index > 0, index + 1 < scalars.count, isDigit(scalars[index - 1]), isDigit(scalars[index + 1]) else {
                return nil
            }
        }
        return String(kept)
    }

    private static func isDigit(_ scalar: Unicode.Scalar) -> Bool { scalar >= "0" && scalar <= "9" }
}
