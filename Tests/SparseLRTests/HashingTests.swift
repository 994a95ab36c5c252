import Testing
@testable import SparseLR

@Suite struct FeatureHasherTests {
    @Test func knownValuesAreStable() {
        // FNV-1a 64 of the empty input is the offset basis; of "a" it is 0xaf63dc4c8601ec8c.
        #expect(TokenHash().state == 0xcbf2_9ce4_8422_2325)
        var a = TokenHash()
        a.combine(UInt8(ascii: "a"))
        #expect(a.state == 0xaf63_dc4c_8601_ec8c)
        // Pinned, so that a change of hash (which would silently invalidate saved models) is noticed.
        let hasher = FeatureHasher(bits: 20)
        #expect(hasher.key(field: "C1", value: "68fd1e64") == 1_007_014)
    }

    @Test func incrementalEqualsWholeToken() {
        let hasher = FeatureHasher(bits: 24)
        for (field, value) in [("I1", "NA"), ("C26", ""), ("site_id", "85f751fd"), ("I2", "-1")] {
            let token = Array("\(field)=\(value)".utf8)
            let whole = token.withUnsafeBytes { hasher.key(token: $0) }
            #expect(hasher.key(field: field, value: value) == whole)
            #expect(whole < 1 << 24)
        }
        var decimal = hasher.fieldState("I5")
        decimal.combine(decimal: -204)
        #expect(hasher.key(decimal) == hasher.key(field: "I5", value: "-204"))
    }

    @Test func fieldsSeparateEqualValues() {
        let hasher = FeatureHasher(bits: 20)
        #expect(hasher.key(field: "C1", value: "abc") != hasher.key(field: "C2", value: "abc"))
    }

    @Test func biasKeyLiesOutsideTheHashedSpace() {
        let hasher = FeatureHasher(bits: 20)
        #expect(hasher.biasKey == 1 << 20)
        #expect(hasher.dimension == (1 << 20) + 1)
        #expect(hasher.mask == (1 << 20) - 1)
    }

    @Test func keysSpreadOverTheSpace() {
        // 4096 distinct tokens into 256 buckets: every bucket gets some, none gets more than 3x its share.
        let hasher = FeatureHasher(bits: 8)
        var counts = [Int](repeating: 0, count: 256)
        for index in 0..<4096 { counts[Int(hasher.key(field: "C7", value: String(index, radix: 16)))] += 1 }
        #expect(counts.min()! > 0)
        #expect(counts.max()! < 48)
    }
}
