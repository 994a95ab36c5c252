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

    @Test("four states combined side by side equal each combined alone, whatever their lengths")
    func fourLanesEqualOneAtATime() {
        let hasher = FeatureHasher(bits: 24)
        let lanes: [[(String, String)]] = [
            [("C1", "68fd1e64"), ("C2", "80e26c9b"), ("C3", "fb936136"), ("C4", "7b4723c4")],
            [("C5", ""), ("C6", "a"), ("C7", "25c83c98"), ("C8", "0123456789abcdef0")],
            [("C9", "abc"), ("C10", ""), ("C11", ""), ("C12", "x")],
        ]
        for group in lanes {
            let bytes = group.map { Array($0.1.utf8) }
            var states = (hasher.fieldState(group[0].0), hasher.fieldState(group[1].0), hasher.fieldState(group[2].0), hasher.fieldState(group[3].0))
            bytes[0].withUnsafeBytes { b0 in
                bytes[1].withUnsafeBytes { b1 in
                    bytes[2].withUnsafeBytes { b2 in
                        bytes[3].withUnsafeBytes { b3 in TokenHash.combine(&states, (b0, b1, b2, b3)) }
                    }
                }
            }
            let keys = [hasher.key(states.0), hasher.key(states.1), hasher.key(states.2), hasher.key(states.3)]
            #expect(keys == group.map { hasher.key(field: $0.0, value: $0.1) }, "\(group)")
        }
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

/// ``CriteoFormat`` reads most integer keys from a table: each key must be the hash of the token's
/// text, `Ij=bucket` or `Ij=NA`, exactly as a line-by-line hasher of the text would make it.
@Suite struct CriteoIntegerKeyTests {
    @Test("integer fields: empty, negative, small, at the table's edge and far past it, keyed as their token text")
    func integerKeysEqualTokenHashes() throws {
        let hasher = FeatureHasher(bits: 22)
        let format = CriteoFormat(hasher: hasher)
        let counts: [Int64?] = [nil, -5, -1, 0, 1, 2, 3, 7, 100, 4095, 4096, 79_000, 81_000, 1_000_000, 9_000_000_000_000]
        for (index, count) in counts.enumerated() {
            // Field Ij gets the count under test, the others vary with it.
            let integers = (1...13).map { field -> String in
                field == index % 13 + 1 ? count.map(String.init) ?? "" : "\(field * (index + 1))"
            }
            let categories = (1...26).map { String($0 * 2_654_435_761 % 4_294_967_296, radix: 16) }
            let line = (["1"] + integers + categories).joined(separator: "\t")
            var batch = ExampleBatch()
            let label = try Array(line.utf8).withUnsafeBytes { try format.appendFeatures(from: $0, to: &batch) }
            #expect(label == 1)
            let expected = zip(CriteoFormat.fieldNames.dropFirst(), integers + categories).map { name, text in
                let value: String
                if name.hasPrefix("I") {
                    value = Int64(text).map { String(CriteoFormat.integerBucket($0)) } ?? "NA"
                } else {
                    value = text
                }
                return hasher.key(field: name, value: value)
            }
            #expect(batch.featureKeys == expected, "line with \(count.map(String.init) ?? "an empty") I\(index % 13 + 1)")
        }
    }
}
