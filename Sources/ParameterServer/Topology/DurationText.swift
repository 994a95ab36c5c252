/// The text form of durations in topology files and on the command line: a number and a unit,
/// optionally repeated, e.g. `500ms`, `10s`, `1.5s`, `2m`, `1h`, `1m30s`.
///
/// Units: `h`, `m`, `s`, `ms`, `us`, `ns`. A bare number is rejected, because a deadline whose unit
/// is guessed is a deadline that is wrong by a factor of 1000.
public enum DurationText {
    /// The units in the order of their size, with their length in nanoseconds.
    private static let units: [(symbol: String, nanoseconds: Int64)] = [
        ("h", 3_600_000_000_000), ("m", 60_000_000_000), ("s", 1_000_000_000),
        ("ms", 1_000_000), ("us", 1_000), ("ns", 1),
    ]

    /// What the documentation and error messages say a duration looks like.
    public static let expectation = "a duration like 500ms, 10s, 1.5s, 2m or 1h"

    /// Parses `text`, or returns `nil` when it is not a duration (or does not fit in 292 years).
    public static func parse(_ text: String) -> Duration? {
        let scalars = Array(text.unicodeScalars)
        var index = 0
        var total: Int64 = 0
        guard !scalars.isEmpty else { return nil }
        while index < scalars.count {
            let wholeStart = index
            while index < scalars.count, isDigit(scalars[index]) { index += 1 }
            let whole = String(String.UnicodeScalarView(scalars[wholeStart..<index]))
            var fraction = ""
            if index < scalars.count, scalars[index] == "." {
                index += 1
                let fractionStart = index
                while index < scalars.count, isDigit(scalars[index]) { index += 1 }
                fraction = String(String.UnicodeScalarView(scalars[fractionStart..<index]))
                if fraction.isEmpty { return nil }
            }
            if whole.isEmpty && fraction.isEmpty { return nil }
            let unitStart = index
            while index < scalars.count, isLetter(scalars[index]) { index += 1 }
            let symbol = String(String.UnicodeScalarView(scalars[unitStart..<index]))
            guard let unit = units.first(where: { $0.symbol == symbol }) else { return nil }

            var part: Int64 = 0
            if !whole.isEmpty {
                guard let value = Int64(whole) else { return nil }
                let (product, overflow) = value.multipliedReportingOverflow(by: unit.nanoseconds)
                if overflow { return nil }
                part = product
            }
            if !fraction.isEmpty {
                // A fraction of a unit is at most one unit, so a Double holds it to well under a nanosecond.
                let share = (Double("0." + fraction)! * Double(unit.nanoseconds)).rounded()
                let (sum, overflow) = part.addingReportingOverflow(Int64(share))
                if overflow { return nil }
                part = sum
            }
            let (sum, overflow) = total.addingReportingOverflow(part)
            if overflow { return nil }
            total = sum
        }
        return .nanoseconds(total)
    }

    /// The shortest exact text for `duration` in the largest unit that divides it, e.g. `1500ms`, `2m`.
    /// Durations that are negative or longer than 292 years are written in seconds with a fraction.
    public static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, attoseconds >= 0, seconds < Int64.max / 1_000_000_000,
              attoseconds % 1_000_000_000 == 0
        else { return "\(Double(seconds) + Double(attoseconds) * 1e-18)s" }
        let nanoseconds = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        if nanoseconds == 0 { return "0s" }
        for unit in units where nanoseconds % unit.nanoseconds == 0 {
            return "\(nanoseconds / unit.nanoseconds)\(unit.symbol)"
        }
        return "\(nanoseconds)ns"
    }

    private static func isDigit(_ scalar: Unicode.Scalar) -> Bool { scalar >= "0" && scalar <= "9" }
    private static func isLetter(_ scalar: Unicode.Scalar) -> Bool {
        (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z")
    }
}
