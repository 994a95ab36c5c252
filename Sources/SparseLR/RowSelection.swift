/// One of `count` interleaved parts of a file's data lines: the lines whose 0-based data-line
/// index `i` has `i % count == index`.
public struct Shard: Sendable, Hashable, CustomStringConvertible {
    /// Which part, in `0 ..< count`.
    public var index: Int
    /// How many parts.
    public var count: Int

    /// Part `index` of `count`.
    public init(_ index: Int, of count: Int) {
        precondition(count > 0 && (0..<count).contains(index), "Shard \(index) of \(count) is not valid")
        self.index = index
        self.count = count
    }

    /// The single part that is the whole file.
    public static let all = Shard(0, of: 1)

    /// Whether the data line with 0-based index `row` belongs to this part.
    @inlinable
    public func contains(row: Int) -> Bool { count == 1 || row % count == index }

    public var description: String { "\(index) of \(count)" }
}

/// Which data lines of a file a reader turns into examples.
///
/// Data lines are numbered from 0 in file order, counting every line that holds an example, including
/// malformed ones, and not counting headers, blank lines and comment-only lines. A line is selected
/// when its index lies in ``rows``, belongs to ``shard`` and does not belong to ``excluded``.
/// Sharding interleaves lines (`i % n`), so every worker sees the whole time span of the file.
public struct RowSelection: Sendable, Hashable {
    /// The window of data-line indices, e.g. `0 ..< 8000` for "rows 1–8000".
    public var rows: Range<Int>
    /// This worker's part.
    public var shard: Shard
    /// A part to leave out, e.g. the held-out test part `Shard(4, of: 5)` when reading training data.
    public var excluded: Shard?

    /// Selects the lines in `rows` that belong to `shard` and not to `excluded`.
    public init(rows: Range<Int> = 0..<Int.max, shard: Shard = .all, excluded: Shard? = nil) {
        self.rows = rows
        self.shard = shard
        self.excluded = excluded
    }

    /// Every data line.
    public static let all = RowSelection()

    /// Whether the data line with 0-based index `row` is selected.
    @inlinable
    public func contains(row: Int) -> Bool {
        guard rows.contains(row), shard.contains(row: row) else { return false }
        if let excluded, excluded.contains(row: row) { return false }
        return true
    }
}

/// What a reader does with a line it cannot parse.
public enum MalformedLinePolicy: Sendable, Hashable {
    /// Throw a ``DataFormatError`` naming the file, line and field.
    case fail
    /// Skip the line and count it in ``ExampleReader/skippedLines``.
    case skip
}

/// Settings shared by all readers.
public struct ReaderOptions: Sendable, Hashable {
    /// The most examples per batch.
    public var batchSize: Int
    /// Which data lines to read.
    public var selection: RowSelection
    /// What to do with a malformed line.
    public var malformedLines: MalformedLinePolicy
    /// The key of a constant feature (value 1) added to every example, or nil for none.
    public var biasKey: UInt64?
    /// The bytes read from the file at a time; the buffer grows if one line is longer.
    public var bufferSize: Int

    /// Creates reader settings.
    public init(
        batchSize: Int = 1000, selection: RowSelection = .all, malformedLines: MalformedLinePolicy = .fail,
        biasKey: UInt64? = nil, bufferSize: Int = 1 << 20
    ) {
        precondition(batchSize > 0, "batchSize must be positive")
        precondition(bufferSize > 0, "bufferSize must be positive")
        self.batchSize = batchSize
        self.selection = selection
        self.malformedLines = malformedLines
        self.biasKey = biasKey
        self.bufferSize = bufferSize
    }
}
