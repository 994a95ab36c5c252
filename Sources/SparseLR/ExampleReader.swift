/// Streams examples from a text file in batches, never holding more than one buffer of the file.
///
/// The format (``LIBSVMFormat``, ``CriteoFormat``, ``CSVFormat``) parses each line; the reader handles
/// chunked reading, the row window and shard (``RowSelection``), batching, the bias feature and
/// malformed lines. Not thread-safe: one reader per worker.
public final class ExampleReader<Format: ExampleLineFormat> {
    /// The format parsing the lines; after the header it holds what the header told it.
    public private(set) var format: Format
    /// The reader's settings.
    public let options: ReaderOptions
    /// The file path, or the name of an in-memory source, as it appears in errors.
    public let name: String
    /// Malformed lines skipped under ``MalformedLinePolicy/skip``.
    public private(set) var skippedLines = 0
    /// The first error of a skipped line, for logs.
    public private(set) var firstSkippedError: DataFormatError?
    /// Data lines seen so far, selected or not.
    public private(set) var dataLinesSeen = 0
    /// Examples returned so far.
    public private(set) var examplesRead = 0

    private let lines: ChunkedLineReader
    private var headerPending: Bool
    private var finished = false

    /// Opens the file at `path`.
    public init(path: String, format: Format, options: ReaderOptions = ReaderOptions()) throws(DataFormatError) {
        self.lines = try ChunkedLineReader(path: path, bufferSize: options.bufferSize)
        self.format = format
        self.options = options
        self.name = path
        self.headerPending = format.hasHeader
    }

    /// Reads `bytes` as if they were a file called `name`.
    public init(bytes: [UInt8], name: String, format: Format, options: ReaderOptions = ReaderOptions()) {
        self.lines = ChunkedLineReader(bytes: bytes, bufferSize: options.bufferSize)
        self.format = format
        self.options = options
        self.name = name
        self.headerPending = format.hasHeader
    }

    /// Reads `text` as if it were a file called `name`.
    public convenience init(text: String, name: String, format: Format, options: ReaderOptions = ReaderOptions()) {
        self.init(bytes: Array(text.utf8), name: name, format: format, options: options)
    }

    /// Refills `batch` (emptied first, storage kept) with up to `batchSize` examples; false at the end.
    public func next(into batch: inout ExampleBatch) throws(DataFormatError) -> Bool {
        batch.removeAll(keepingCapacity: true)
        while batch.count < options.batchSize, !finished {
            guard let line = try lines.nextLine(name: name) else {
                finished = true
                break
            }
            if headerPending {
                headerPending = false
                do throws(LineFormatError) {
                    try format.readHeader(line)
                } catch {
                    throw located(error)
                }
                continue
            }
            guard format.isDataLine(line) else { continue }
            let row = dataLinesSeen
            dataLinesSeen += 1
            if row >= options.selection.rows.upperBound {
                finished = true
                break
            }
            guard options.selection.contains(row: row) else { continue }
            let label: Float
            do throws(LineFormatError) {
                label = try format.appendFeatures(from: line, to: &batch)
            } catch {
                batch.discardUnfinishedExample()
                let located = located(error)
                guard options.malformedLines == .skip else { throw located }
                skippedLines += 1
                if firstSkippedError == nil { firstSkippedError = located }
                continue
            }
            if let biasKey = options.biasKey { batch.appendFeature(key: biasKey, value: 1) }
            batch.finishExample(label: label)
        }
        examplesRead += batch.count
        return !batch.isEmpty
    }

    /// The next batch of up to `batchSize` examples, or nil at the end.
    public func nextBatch() throws(DataFormatError) -> ExampleBatch? {
        var batch = ExampleBatch()
        return try next(into: &batch) ? batch : nil
    }

    /// Every remaining selected example, in one batch.
    public func readAll() throws(DataFormatError) -> ExampleBatch {
        var all = ExampleBatch()
        var batch = ExampleBatch()
        while try next(into: &batch) { all.append(contentsOf: batch) }
        return all
    }

    private func located(_ error: LineFormatError) -> DataFormatError {
        DataFormatError(
            file: name, line: lines.lineNumber, field: error.field, fieldName: error.fieldName, detail: error.detail)
    }
}
