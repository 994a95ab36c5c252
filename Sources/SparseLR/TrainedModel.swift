#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A trained sparse logistic model: its non-zero weights and the ``FeatureEncoding`` that turns data
/// lines into keys, so new data is read the way the training data was.
///
/// The file form is text: a first line `zps-sparse-lr 1`, then `name value` settings (`format`,
/// `hash_bits`, `bias`, `label_column`, `ignored_columns`, `separator`), a line `weights N`, and N lines
/// `key weight` in ascending key order. Weights are written in Swift's shortest round-tripping form,
/// so reading a file restores every `Float` exactly.
public struct TrainedModel: Sendable, Equatable {
    /// How data lines become keys.
    public var encoding: FeatureEncoding
    /// The keys with a non-zero weight, strictly ascending.
    public private(set) var keys: [UInt64]
    /// The weight of each of ``keys``.
    public private(set) var weights: [Float]

    /// The first line of a model file.
    public static let fileSignature = "zps-sparse-lr 1"

    /// A model from sorted `(key, weight)` pairs; zero weights are dropped.
    public init(encoding: FeatureEncoding, weights pairs: [(key: UInt64, weight: Float)]) {
        self.encoding = encoding
        let sorted = pairs.filter { $0.weight != 0 }.sorted { $0.key < $1.key }
        keys = sorted.map(\.key)
        weights = sorted.map(\.weight)
        precondition(zip(keys, keys.dropFirst()).allSatisfy { $0 < $1 }, "model keys must be unique")
    }

    /// The weight of `key` (0 for a key the model does not hold).
    public func weight(forKey key: UInt64) -> Float {
        keys.withUnsafeBufferPointer { keys in
            let index = BatchKeys.position(of: key, in: keys)
            return index < keys.count && keys[index] == key ? weights[index] : 0
        }
    }

    /// The click probability of every example of `batch`.
    public func predict(_ batch: ExampleBatch) -> [Float] {
        let batchKeys = batch.uniqueKeys()
        let gathered = batchKeys.keys.map(weight(forKey:))
        return LogisticModel.predictions(batch: batch, keys: batchKeys, weights: gathered)
    }

    /// The model as file text.
    public func fileText() -> String {
        var lines = [
            Self.fileSignature,
            "format \(encoding.format.rawValue)",
            "hash_bits \(encoding.hashBits)",
            "bias \(encoding.bias)",
            "label_column \(encoding.labelColumn)",
            "ignored_columns \(encoding.ignoredColumns.joined(separator: ","))",
            "separator \(encoding.separator)",
            "weights \(keys.count)",
        ]
        lines.reserveCapacity(lines.count + keys.count)
        for (key, weight) in zip(keys, weights) {
            lines.append("\(key) \(weight)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Parses file text; errors name `name` and the line.
    public init(fileText text: String, name: String) throws(DataFormatError) {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).makeIterator()
        var lineNumber = 0
        func fail(_ detail: String) -> DataFormatError {
            DataFormatError(file: name, line: lineNumber, detail: detail)
        }
        func nextLine() throws(DataFormatError) -> Substring {
            lineNumber += 1
            guard let line = lines.next() else { throw fail("the file ends early") }
            return line
        }
        func setting(_ expected: String) throws(DataFormatError) -> String {
            let line = try nextLine()
            let parts = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.first.map(String.init) == expected else { throw fail("expected the setting '\(expected)', found \"\(line)\"") }
            return parts.count > 1 ? String(parts[1]) : ""
        }
        guard try nextLine() == Self.fileSignature else { throw fail("not a zps model file (expected \"\(Self.fileSignature)\")") }
        guard let format = FeatureEncoding.Format(rawValue: try setting("format")) else { throw fail("unknown format") }
        guard let hashBits = Int(try setting("hash_bits")), FeatureEncoding.hashBitsLimits.contains(hashBits) else {
            throw fail("hash_bits must be an integer in \(FeatureEncoding.hashBitsLimits)")
        }
        guard let bias = Bool(try setting("bias")) else { throw fail("bias must be true or false") }
        let labelColumn = try setting("label_column")
        let ignored = try setting("ignored_columns").split(separator: ",").map(String.init)
        guard let separator = UInt8(try setting("separator")) else { throw fail("separator must be a byte value") }
        guard let count = Int(try setting("weights")), count >= 0 else { throw fail("weights must be a count") }
        var keys: [UInt64] = []
        var weights: [Float] = []
        keys.reserveCapacity(count)
        weights.reserveCapacity(count)
        for _ in 0..<count {
            let line = try nextLine()
            let parts = line.split(separator: " ")
            guard parts.count == 2, let key = UInt64(parts[0]), let weight = Float(parts[1]), weight.isFinite else {
                throw fail("expected \"KEY WEIGHT\", found \"\(line)\"")
            }
            if let last = keys.last, key <= last { throw fail("key \(key) does not follow \(last) in ascending order") }
            keys.append(key)
            weights.append(weight)
        }
        encoding = FeatureEncoding(
            format: format, hashBits: hashBits, bias: bias, labelColumn: labelColumn, ignoredColumns: ignored,
            separator: separator)
        self.keys = keys
        self.weights = weights
    }

    /// Writes the model to `path`.
    public func write(to path: String) throws(DataFormatError) {
        guard let file = fopen(path, "w") else {
            throw DataFormatError(file: path, line: nil, detail: "cannot create the file: \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        let bytes = Array(fileText().utf8)
        guard fwrite(bytes, 1, bytes.count, file) == bytes.count else {
            throw DataFormatError(file: path, line: nil, detail: "write failed: \(String(cString: strerror(errno)))")
        }
    }

    /// Reads the model file at `path`.
    public static func read(from path: String) throws(DataFormatError) -> TrainedModel {
        guard let file = fopen(path, "r") else {
            throw DataFormatError(file: path, line: nil, detail: "cannot open the file: \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return try TrainedModel(fileText: String(decoding: bytes, as: UTF8.self), name: path)
    }
}
