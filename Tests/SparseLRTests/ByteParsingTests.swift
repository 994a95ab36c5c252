import Testing
import ParameterServer
@testable import SparseLR

/// ``ByteParsing/integer(_:)`` must agree with `Int64(_:)` on every text: short numbers take a path
/// without overflow checks, long ones the checked path, and the edge between them is 18 digits.
@Suite struct ByteParsingTests {
    static func parse(_ text: String) -> Int64? {
        Array(text.utf8).withUnsafeBytes { ByteParsing.integer($0) }
    }

    @Test("integers at the 18/19-digit edge, at Int64's limits, signed, empty and malformed, as Int64(_:) reads them")
    func integersMatchInt64() {
        var texts = ["", "-", "+", "0", "-0", "+7", "12a", "a12", "1 ", "--1", "+-1", "9223372036854775807",
                     "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "99999999999999999999",
                     "000000000000000000000000000042"]
        for digits in 1...20 {
            let nines = String(repeating: "9", count: digits)
            texts += [nines, "-" + nines, "+" + nines, "1" + String(repeating: "0", count: digits - 1)]
        }
        var random = SplitMix64(seed: 7)
        for _ in 0..<2_000 {
            let length = Int(random.next() % 22) + 1
            let digits = String((0..<length).map { _ in Character(String(random.next() % 10)) })
            texts.append(random.next() % 2 == 0 ? digits : "-" + digits)
        }
        for text in texts {
            #expect(Self.parse(text) == Int64(text), "\"\(text)\"")
        }
    }
}
