import Foundation
import Testing
@testable import SparseLR

/// Reads every example of `text` with `format` and `options`.
func readAll<Format: ExampleLineFormat>(
    _ text: String, format: Format, options: ReaderOptions = ReaderOptions(), name: String = "test.txt"
) throws -> ExampleBatch {
    try ExampleReader(text: text, name: name, format: format, options: options).readAll()
}

/// The error thrown reading `text`, or nil.
func readError<Format: ExampleLineFormat>(_ text: String, format: Format, name: String = "test.txt") -> DataFormatError? {
    do {
        _ = try readAll(text, format: format, name: name)
        return nil
    } catch let error as DataFormatError {
        return error
    } catch {
        return nil
    }
}

@Suite struct LIBSVMReaderTests {
    @Test func parsesLabelsIndicesValuesAndQuirks() throws {
        let text = "+1 3:0.5 7 12:2\r\n-1 1:1 \n\n   \n# only a comment\n0 2:-1.5e1 # trailing comment\n1\t4:1\t\n"
        let batch = try readAll(text, format: LIBSVMFormat())
        #expect(batch.labels == [1, 0, 0, 1])
        #expect(batch.rowOffsets == [0, 3, 4, 5, 6])
        #expect(batch.featureKeys == [3, 7, 12, 1, 2, 4])
        #expect(batch.featureValues == [0.5, 1, 2, 1, -15, 1])
    }

    @Test func keyOffsetAndBias() throws {
        let batch = try readAll("1 1:1 5:2\n0 2\n", format: LIBSVMFormat(keyOffset: 100), options: ReaderOptions(biasKey: 0))
        #expect(batch.featureKeys == [101, 105, 0, 102, 0])
        #expect(batch.featureValues == [1, 2, 1, 1, 1])
    }

    @Test func badValueNamesFileLineAndField() {
        let error = readError("1 1:1\n\n0 3:1 4:abc\n", format: LIBSVMFormat(), name: "w8a.libsvm")
        #expect(error?.description == "w8a.libsvm:3: field 3 (value): expected a number, found \"abc\"")
    }

    @Test func badLabelAndIndex() {
        #expect(readError("2 1:1\n", format: LIBSVMFormat())?.description
            == "test.txt:1: field 1 (label): expected a label 0, 1, -1 or +1, found \"2\"")
        #expect(readError("1 x:1\n", format: LIBSVMFormat())?.description
            == "test.txt:1: field 2 (index): expected a feature index, found \"x:1\"")
    }

    @Test func skipModeCountsMalformedLines() throws {
        let reader = ExampleReader(
            text: "1 1:1\n0 2:zz\n1 3:1\nbad\n0 4:1\n", name: "t", format: LIBSVMFormat(),
            options: ReaderOptions(malformedLines: .skip))
        let batch = try reader.readAll()
        #expect(batch.labels == [1, 1, 0])
        #expect(batch.featureKeys == [1, 3, 4])
        #expect(reader.skippedLines == 2)
        #expect(reader.firstSkippedError?.line == 2)
    }
}

@Suite struct CriteoReaderTests {
    /// A Criteo line from its fields, tabs between.
    static func line(label: String, integers: [String], categories: [String]) -> String {
        ([label] + integers + categories).joined(separator: "\t") + "\n"
    }

    static let hasher = FeatureHasher(bits: 20)

    @Test func tokensFollowTheRecipe() throws {
        var integers = [String](repeating: "", count: 13)
        integers[0] = "1"; integers[1] = "-1"; integers[2] = "2"; integers[3] = "3"; integers[4] = "1618112"
        var categories = [String](repeating: "", count: 26)
        categories[0] = "68fd1e64"; categories[10] = "0b153874"
        let batch = try readAll(Self.line(label: "1", integers: integers, categories: categories), format: CriteoFormat())
        #expect(batch.labels == [1])
        #expect(batch.featureCount == 39)
        let h = Self.hasher
        var expected: [UInt64] = [
            h.key(field: "I1", value: "1"), h.key(field: "I2", value: "-1"), h.key(field: "I3", value: "2"),
            h.key(field: "I4", value: "1"),  // floor(ln(3)^2) = 1
            h.key(field: "I5", value: "204"),  // floor(ln(1618112)^2) = floor(14.2968^2)
        ]
        expected += (6...13).map { h.key(field: "I\($0)", value: "NA") }
        expected += (1...26).map { h.key(field: "C\($0)", value: categories[$0 - 1]) }
        #expect(batch.featureKeys == expected)
        #expect(batch.featureValues == [Float](repeating: 1, count: 39))
    }

    @Test func integerBuckets() {
        #expect(CriteoFormat.integerBucket(-2) == -2)
        #expect(CriteoFormat.integerBucket(0) == 0)
        #expect(CriteoFormat.integerBucket(2) == 2)
        #expect(CriteoFormat.integerBucket(3) == 1)  // ln 3 = 1.0986
        #expect(CriteoFormat.integerBucket(100) == 21)  // ln 100 = 4.6052, squared 21.2
        #expect(CriteoFormat.integerBucket(1_618_112) == 204)  // ln = 14.2968, squared 204.4
    }

    @Test func trailingEmptyFieldsAreMissingCategories() throws {
        let categories = ["a1"] + [String](repeating: "", count: 25)
        let text = Self.line(label: "0", integers: [String](repeating: "5", count: 13), categories: categories)
        #expect(text.hasSuffix("a1" + String(repeating: "\t", count: 25) + "\n"))
        let batch = try readAll(text, format: CriteoFormat())
        #expect(batch.featureKeys[38] == Self.hasher.key(field: "C26", value: ""))
        #expect(batch.featureKeys[13] == Self.hasher.key(field: "C1", value: "a1"))
    }

    @Test func wrongFieldCountIsAnError() {
        let short = "1" + String(repeating: "\t", count: 38) + "\n"
        #expect(readError(short, format: CriteoFormat(), name: "train.tsv")?.description
            == "train.tsv:1: expected 40 tab-separated fields, found 39")
        let long = "1" + String(repeating: "\t", count: 40) + "\n"
        #expect(readError(long, format: CriteoFormat(), name: "train.tsv")?.description
            == "train.tsv:1: expected 40 tab-separated fields, found 41")
    }

    @Test func badIntegerNamesTheField() {
        var integers = [String](repeating: "", count: 13)
        integers[3] = "x1"
        let good = Self.line(label: "0", integers: [String](repeating: "", count: 13), categories: [String](repeating: "", count: 26))
        let bad = Self.line(label: "0", integers: integers, categories: [String](repeating: "", count: 26))
        #expect(readError(good + bad, format: CriteoFormat(), name: "train.tsv")?.description
            == "train.tsv:2: field 5 (I4): expected an integer, found \"x1\"")
        let badLabel = Self.line(label: "2", integers: [String](repeating: "", count: 13), categories: [String](repeating: "", count: 26))
        #expect(readError(badLabel, format: CriteoFormat(), name: "train.tsv")?.description
            == "train.tsv:1: field 1 (label): expected a label 0 or 1, found \"2\"")
    }

    @Test func skipModeDropsPartialFeatures() throws {
        var integers = [String](repeating: "7", count: 13)
        let good = Self.line(label: "1", integers: integers, categories: [String](repeating: "ab", count: 26))
        integers[12] = "-"
        let bad = Self.line(label: "0", integers: integers, categories: [String](repeating: "ab", count: 26))
        let reader = ExampleReader(
            text: good + bad + good, name: "t", format: CriteoFormat(), options: ReaderOptions(malformedLines: .skip))
        let batch = try reader.readAll()
        #expect(batch.count == 2)
        #expect(batch.featureCount == 78)
        #expect(reader.skippedLines == 1)
        #expect(reader.firstSkippedError?.description == "t:2: field 14 (I13): expected an integer, found \"-\"")
    }
}

@Suite struct CSVReaderTests {
    static let text = "id,click,hour,site,C1\n1,0,14102100,abc,5\n18446744073709551615,1,14102100,def,\n\n3,1,14102100,abc,7\n"

    @Test func hashesColumnsExceptLabelAndIgnored() throws {
        let format = CSVFormat(labelColumn: "click", ignoredColumns: ["id", "hour"])
        let batch = try readAll(Self.text, format: format)
        let h = FeatureHasher(bits: 20)
        #expect(batch.labels == [0, 1, 1])
        #expect(batch.featureKeys == [
            h.key(field: "site", value: "abc"), h.key(field: "C1", value: "5"),
            h.key(field: "site", value: "def"), h.key(field: "C1", value: ""),
            h.key(field: "site", value: "abc"), h.key(field: "C1", value: "7"),
        ])
    }

    @Test func headerAndFieldErrors() {
        #expect(readError(Self.text, format: CSVFormat(labelColumn: "y"))?.description
            == "test.txt:1: the header has no label column \"y\"")
        #expect(readError("a,click\n1,0,2\n", format: CSVFormat(labelColumn: "click"))?.description
            == "test.txt:2: expected 2 fields as in the header, found 3")
        #expect(readError("a,click\n1,yes\n", format: CSVFormat(labelColumn: "click"))?.description
            == "test.txt:2: field 2 (click): expected a label 0 or 1, found \"yes\"")
    }
}

@Suite struct ReaderMechanicsTests {
    /// 50 LIBSVM lines with growing lengths; line i has label i % 2 and features 1...(i % 7 + 1).
    static let text: String = (0..<50).map { row in
        "\(row % 2) " + (1...(row % 7 + 1)).map { "\($0 + row):\(row)" }.joined(separator: " ") + "\n"
    }.joined()

    @Test(arguments: [1, 2, 3, 7, 16, 1 << 16])
    func chunkBoundariesDoNotChangeResults(bufferSize: Int) throws {
        let whole = try readAll(Self.text, format: LIBSVMFormat())
        let chunked = try readAll(Self.text, format: LIBSVMFormat(), options: ReaderOptions(bufferSize: bufferSize))
        #expect(chunked == whole)
        #expect(whole.count == 50)
    }

    @Test func lastLineWithoutNewline() throws {
        let batch = try readAll("1 1:1\n0 2:3", format: LIBSVMFormat(), options: ReaderOptions(bufferSize: 4))
        #expect(batch.featureKeys == [1, 2])
        #expect(batch.featureValues == [1, 3])
    }

    @Test func shardsPartitionTheRowsByIndexModulo() throws {
        let whole = try readAll(Self.text, format: LIBSVMFormat())
        var union: [Float] = []
        for index in 0..<3 {
            let part = try readAll(
                Self.text, format: LIBSVMFormat(), options: ReaderOptions(selection: RowSelection(shard: Shard(index, of: 3))))
            #expect(part.count == (50 - index + 2) / 3)
            for row in 0..<part.count {
                #expect(part[row] == whole[index + 3 * row])
            }
            union += part.featureValues
        }
        #expect(union.sorted() == whole.featureValues.sorted())
    }

    @Test func rowWindowAndExclusion() throws {
        let whole = try readAll(Self.text, format: LIBSVMFormat())
        let window = try readAll(Self.text, format: LIBSVMFormat(), options: ReaderOptions(selection: RowSelection(rows: 10..<20)))
        #expect(window == whole.examples(in: 10..<20))
        let training = try readAll(
            Self.text, format: LIBSVMFormat(), options: ReaderOptions(selection: RowSelection(excluded: Shard(4, of: 5))))
        #expect(training.count == 40)
        #expect(training[4] == whole[5])
    }

    @Test func batchesHoldAtMostBatchSizeExamples() throws {
        let reader = ExampleReader(text: Self.text, name: "t", format: LIBSVMFormat(), options: ReaderOptions(batchSize: 16))
        var sizes: [Int] = []
        var batch = ExampleBatch()
        while try reader.next(into: &batch) { sizes.append(batch.count) }
        #expect(sizes == [16, 16, 16, 2])
        #expect(reader.examplesRead == 50)
    }

    @Test func readsFilesInPlace() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sparselr-\(UUID()).libsvm").path
        try Self.text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fromFile = try ExampleReader(path: path, format: LIBSVMFormat(), options: ReaderOptions(bufferSize: 5)).readAll()
        #expect(fromFile == (try readAll(Self.text, format: LIBSVMFormat())))
        #expect(throws: DataFormatError.self) { try ExampleReader(path: path + ".missing", format: LIBSVMFormat()) }
    }
}
