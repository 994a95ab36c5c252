import Testing
@testable import SparseLR

/// RFC 4180 quoting in ``CSVFormat``: quoted fields hold separators and doubled quotes, and hash
/// to the same keys as the same values written unquoted.
@Suite struct CSVQuotingTests {
    static let format = CSVFormat(labelColumn: "click", ignoredColumns: ["id"])
    static let hasher = FeatureHasher(bits: 20)

    @Test func quotedFieldsHashLikeTheirValues() throws {
        let quoted = try readAll(
            "\"id\",\"click\",site,note\n\"1\",\"1\",\"a,b\",\"say \"\"hi\"\"\"\n2,0,\"\",plain\n3,\"0\",x\"y,\"z\"\n",
            format: Self.format)
        let h = Self.hasher
        #expect(quoted.labels == [1, 0, 0])
        #expect(quoted.featureKeys == [
            h.key(field: "site", value: "a,b"), h.key(field: "note", value: "say \"hi\""),
            h.key(field: "site", value: ""), h.key(field: "note", value: "plain"),
            // A quote inside an unquoted field is an ordinary byte.
            h.key(field: "site", value: "x\"y"), h.key(field: "note", value: "z"),
        ])
        // The same values unquoted give the same keys: the quotes are not part of the tokens.
        let plain = try readAll("id,click,site,note\n1,1,ab,hi\n", format: Self.format)
        let again = try readAll("\"id\",\"click\",\"site\",\"note\"\n\"1\",\"1\",\"ab\",\"hi\"\n", format: Self.format)
        #expect(plain.featureKeys == again.featureKeys)
        #expect(plain.labels == again.labels)
    }

    @Test func malformedQuotingIsLocated() {
        #expect(readError("id,click,site\n1,0,\"open\n", format: Self.format)?.description
            == "test.txt:2: field 3: a quoted field has no closing quote (a quoted field cannot span lines)")
        #expect(readError("id,click,site\n1,0,\"ab\"c\n", format: Self.format)?.description
            == "test.txt:2: field 3: expected a separator after the closing quote, found \"c\"")
        #expect(readError("id,click,site\n1,\"yes\",x\n", format: Self.format)?.description
            == "test.txt:2: field 2 (click): expected a label 0 or 1, found \"yes\"")
        #expect(readError("id,click,site\n1,0,\"a,b\",extra\n", format: Self.format)?.description
            == "test.txt:2: expected 3 fields as in the header, found 4")
        #expect(readError("\"id\",\"cli\"ck\",site\n", format: Self.format)?.description
            == "test.txt:1: field 2: expected a separator after the closing quote, found \"c\"")
    }
}
