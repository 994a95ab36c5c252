/// How the lines of a data file become examples: the file format, the hashing of its tokens and the
/// bias feature. A trained model records its encoding, so `zps predict` reads new data the same way.
public struct FeatureEncoding: Sendable, Hashable {
    /// The text formats a job can read.
    public enum Format: String, Sendable, Hashable, CaseIterable {
        /// LIBSVM / svmlight: keys are the 1-based feature indices.
        case libsvm
        /// Criteo DAC TSV: 13 integer and 26 categorical fields, hashed.
        case criteo
        /// CSV with a header naming the label column; every other column not ignored is categorical.
        case csv
        /// CSV in the Avazu layout (label `click`, ignoring `id` and `hour`).
        case avazu
    }

    /// The file format.
    public var format: Format
    /// The bits of the feature hash (hashed formats): keys lie below `2^hashBits`, the bias key is `2^hashBits`.
    public var hashBits: Int
    /// Whether every example gets a constant feature of value 1 (the intercept).
    public var bias: Bool
    /// The label column of ``Format/csv``.
    public var labelColumn: String
    /// The columns ``Format/csv`` leaves out.
    public var ignoredColumns: [String]
    /// The column separator of ``Format/csv``.
    public var separator: UInt8

    /// Creates an encoding; the CSV settings only matter for ``Format/csv``.
    public init(
        format: Format, hashBits: Int = 20, bias: Bool = true, labelColumn: String = "click",
        ignoredColumns: [String] = [], separator: UInt8 = UInt8(ascii: ",")
    ) {
        self.format = format
        self.hashBits = hashBits
        self.bias = bias
        self.labelColumn = labelColumn
        self.ignoredColumns = ignoredColumns
        self.separator = separator
    }

    /// The hash bits a ``FeatureHasher`` accepts.
    public static let hashBitsLimits = 1...40

    /// The hasher of the hashed formats.
    public var hasher: FeatureHasher { FeatureHasher(bits: hashBits) }

    /// Whether tokens are hashed (everything but LIBSVM).
    public var isHashed: Bool { format != .libsvm }

    /// The key of the bias feature: `2^hashBits` for hashed formats, 0 for LIBSVM (whose indices start at 1).
    public var biasKey: UInt64? {
        guard bias else { return nil }
        return isHashed ? hasher.biasKey : 0
    }

    /// One more than the largest key a hashed format produces (bias included); nil for LIBSVM,
    /// whose keys are the file's indices.
    public var keyBound: UInt64? {
        isHashed ? UInt64(hasher.dimension) : nil
    }

    /// Opens `path` for reading `batchSize` examples at a time from the rows `selection` picks.
    public func openReader(
        path: String, selection: RowSelection, batchSize: Int, malformedLines: MalformedLinePolicy = .fail
    ) throws(DataFormatError) -> BatchStream {
        let options = ReaderOptions(
            batchSize: batchSize, selection: selection, malformedLines: malformedLines, biasKey: biasKey)
        switch format {
        case .libsvm:
            return BatchStream(try ExampleReader(path: path, format: LIBSVMFormat(), options: options))
        case .criteo:
            return BatchStream(try ExampleReader(path: path, format: CriteoFormat(hasher: hasher), options: options))
        case .csv:
            let csv = CSVFormat(
                labelColumn: labelColumn, ignoredColumns: Set(ignoredColumns), separator: separator, hasher: hasher)
            return BatchStream(try ExampleReader(path: path, format: csv, options: options))
        case .avazu:
            return BatchStream(try ExampleReader(path: path, format: CSVFormat.avazu(hasher: hasher), options: options))
        }
    }

    /// Every example `selection` picks from `path`, in one batch.
    public func readAll(
        path: String, selection: RowSelection, malformedLines: MalformedLinePolicy = .fail
    ) throws(DataFormatError) -> ExampleBatch {
        let stream = try openReader(path: path, selection: selection, batchSize: 4096, malformedLines: malformedLines)
        var all = ExampleBatch()
        var batch = ExampleBatch()
        while try stream.next(into: &batch) { all.append(contentsOf: batch) }
        return all
    }
}

/// An ``ExampleReader`` of any format behind one type, so a job picks the format at run time.
public final class BatchStream {
    private let nextBatch: (inout ExampleBatch) throws(DataFormatError) -> Bool
    private let examplesSoFar: () -> Int
    private let skipped: () -> (count: Int, first: DataFormatError?)
    private let linesSoFar: () -> Int

    /// Wraps `reader`.
    public init<Format: ExampleLineFormat>(_ reader: ExampleReader<Format>) {
        nextBatch = { (batch: inout ExampleBatch) throws(DataFormatError) -> Bool in try reader.next(into: &batch) }
        examplesSoFar = { reader.examplesRead }
        skipped = { (reader.skippedLines, reader.firstSkippedError) }
        linesSoFar = { reader.dataLinesSeen }
    }

    /// Refills `batch` with the next examples; false at the end.
    public func next(into batch: inout ExampleBatch) throws(DataFormatError) -> Bool {
        try nextBatch(&batch)
    }

    /// The examples returned so far.
    public var examplesRead: Int { examplesSoFar() }

    /// The data lines seen so far, selected or not.
    public var dataLinesSeen: Int { linesSoFar() }

    /// The malformed lines skipped so far (under ``MalformedLinePolicy/skip``).
    public var skippedLines: Int { skipped().count }

    /// The error of the first skipped line.
    public var firstSkippedError: DataFormatError? { skipped().first }
}
