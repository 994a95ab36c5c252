import ParameterServer
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Generates click data in Criteo DAC TSV form from a seeded, known logistic model.
///
/// The seed draws a sparse true model over Criteo-shaped fields: 13 integer counts (log-uniform
/// values, some negative in `I2`, weights per power-of-two magnitude) and 26 categorical fields
/// (vocabularies of 3 to 5,500 values written as 8 hex digits, drawn with Zipf-like frequencies
/// `∝ 1/k^1.5`, about half of them with a non-zero weight). Each row's click is drawn from its true
/// probability `σ(bias + Σ weights)`, which ``appendRow(to:)`` returns, so the AUC of the true model on
/// a generated file can be computed. Missing values are written as empty fields, so many lines end in
/// several empty fields as in the real data. Only integer arithmetic and `+ − × ÷ √` are used, so the
/// same seed gives the same bytes on every platform.
public struct SyntheticCTRGenerator: Sendable {
    /// The knobs of the true model.
    public struct Configuration: Sendable, Hashable {
        /// The model's intercept; sets the positive rate.
        public var bias: Double
        /// The standard deviation of the weights of integer fields.
        public var integerWeightScale: Double
        /// The standard deviation of the non-zero weights of categorical values.
        public var categoricalWeightScale: Double
        /// The fraction of categorical values with a non-zero weight.
        public var categoricalDensity: Double

        /// Creates a configuration; the defaults give about 22 % positives and a true-model AUC near 0.8.
        public init(
            bias: Double = -1.5, integerWeightScale: Double = 0.2, categoricalWeightScale: Double = 0.4,
            categoricalDensity: Double = 0.5
        ) {
            self.bias = bias
            self.integerWeightScale = integerWeightScale
            self.categoricalWeightScale = categoricalWeightScale
            self.categoricalDensity = categoricalDensity
        }
    }

    /// How often each integer field is missing, after the real data.
    static let integerMissingRates: [Double] = [
        0.45, 0, 0.2, 0.2, 0.05, 0.25, 0.05, 0.001, 0.05, 0.45, 0.05, 0.77, 0.2,
    ]
    /// The largest bit length of each integer field's values.
    static let integerMaximumBits: [Int] = [4, 10, 12, 8, 20, 14, 10, 7, 12, 3, 6, 10, 8]
    /// The vocabulary size of each categorical field.
    static let vocabularySizes: [Int] = [
        1400, 550, 5500, 3800, 120, 12, 4000, 180, 3, 5500, 3200, 5000, 2900,
        25, 4200, 5200, 10, 2100, 1000, 15, 5300, 10, 14, 3000, 60, 2300,
    ]
    /// How often each categorical field is missing.
    static let categoricalMissingRates: [Double] = [
        0, 0, 0.03, 0.03, 0, 0.1, 0, 0, 0, 0, 0, 0.03, 0,
        0, 0, 0.03, 0, 0, 0.44, 0.44, 0.03, 0.76, 0, 0.03, 0.44, 0.44,
    ]
    /// Bit lengths 0…64 of integer values, plus one slot for "missing" and one for negative values.
    private static let integerSlots = 67

    /// Weight of each integer field's bit length (`slot 65` missing, `66` negative), field-major.
    private let integerWeights: [Double]
    /// Per categorical field, the offset of its first value in the flattened arrays.
    private let vocabularyOffsets: [Int]
    /// Cumulative Zipf weights of every field's values, flattened.
    private let cumulativeFrequencies: [Double]
    /// The true weight of every categorical value, flattened.
    private let categoricalWeights: [Double]
    /// Per categorical field, the salt that makes its hex codes distinct from other fields'.
    private let hexSalts: [UInt32]
    /// The weight of a missing value of each categorical field.
    private let missingCategoryWeights: [Double]
    private let configuration: Configuration
    private var random: SplitMix64

    /// Draws the true model from `seed` and prepares to generate rows.
    public init(seed: UInt64, configuration: Configuration = Configuration()) {
        self.configuration = configuration
        var modelRandom = SplitMix64(seed: seed ^ 0x6d6f_6465_6c5f_7331)
        var integerWeights = [Double](repeating: 0, count: 13 * Self.integerSlots)
        for field in 0..<13 {
            // Some fields matter more than others.
            let relevance = abs(modelRandom.nextApproximateNormal())
            for slot in 0..<Self.integerSlots {
                integerWeights[field * Self.integerSlots + slot] =
                    configuration.integerWeightScale * relevance * modelRandom.nextApproximateNormal()
            }
        }
        var offsets: [Int] = []
        var cumulative: [Double] = []
        var weights: [Double] = []
        var salts: [UInt32] = []
        var missingWeights: [Double] = []
        for size in Self.vocabularySizes {
            offsets.append(cumulative.count)
            var total = 0.0
            for rank in 1...size {
                let k = Double(rank)
                total += 1 / (k * k.squareRoot())
                cumulative.append(total)
                let weighted = modelRandom.nextUnit() < configuration.categoricalDensity
                weights.append(weighted ? configuration.categoricalWeightScale * modelRandom.nextApproximateNormal() : 0)
            }
            salts.append(UInt32(truncatingIfNeeded: modelRandom.next()))
            missingWeights.append(configuration.categoricalWeightScale * modelRandom.nextApproximateNormal())
        }
        offsets.append(cumulative.count)
        self.integerWeights = integerWeights
        self.vocabularyOffsets = offsets
        self.cumulativeFrequencies = cumulative
        self.categoricalWeights = weights
        self.hexSalts = salts
        self.missingCategoryWeights = missingWeights
        self.random = SplitMix64(seed: seed ^ 0x726f_7773_5f73_3231)
    }

    /// Appends one TSV line (with its `\n`) to `line` and returns the row's true click probability.
    public mutating func appendRow(to line: inout [UInt8]) -> Double {
        var values = [Int64?](repeating: nil, count: 13)
        var margin = configuration.bias
        for field in 0..<13 {
            guard random.nextUnit() >= Self.integerMissingRates[field] else {
                margin += integerWeights[field * Self.integerSlots + 65]
                continue
            }
            var value: Int64
            if field == 1, case let draw = random.nextUnit(), draw < 0.1 {
                value = draw < 0.001 ? -2 : -1
                margin += integerWeights[field * Self.integerSlots + 66]
            } else {
                let bits = Int(random.next() % UInt64(Self.integerMaximumBits[field] + 1))
                value = bits == 0 ? 0 : Int64(random.next() >> UInt64(64 - bits))
                margin += integerWeights[field * Self.integerSlots + (64 - value.leadingZeroBitCount)]
            }
            values[field] = value
        }
        var categories = [Int?](repeating: nil, count: 26)
        for field in 0..<26 {
            guard random.nextUnit() >= Self.categoricalMissingRates[field] else {
                margin += missingCategoryWeights[field]
                continue
            }
            let rank = drawRank(field: field)
            categories[field] = rank
            margin += categoricalWeights[vocabularyOffsets[field] + rank]
        }
        let probability = DeterministicMath.sigmoid(margin)
        let clicked = random.nextUnit() < probability
        line.append(clicked ? UInt8(ascii: "1") : UInt8(ascii: "0"))
        for value in values {
            line.append(UInt8(ascii: "\t"))
            if let value { Self.appendDecimal(value, to: &line) }
        }
        for (field, rank) in categories.enumerated() {
            line.append(UInt8(ascii: "\t"))
            if let rank { Self.appendHex(Self.hexCode(rank: rank, salt: hexSalts[field]), to: &line) }
        }
        line.append(UInt8(ascii: "\n"))
        return probability
    }

    /// The next `rows` lines and their true probabilities.
    public mutating func generate(rows: Int) -> (text: [UInt8], probabilities: [Double]) {
        var text: [UInt8] = []
        text.reserveCapacity(rows * 200)
        var probabilities: [Double] = []
        probabilities.reserveCapacity(rows)
        for _ in 0..<rows { probabilities.append(appendRow(to: &text)) }
        return (text, probabilities)
    }

    /// Writes `rows` lines to `path`, and each row's true probability (one per line) to
    /// `probabilitiesPath` if given.
    public mutating func write(rows: Int, to path: String, probabilitiesPath: String? = nil) throws(DataFormatError) {
        var text: [UInt8] = []
        var probabilities: [UInt8] = []
        let chunkRows = 10_000
        let file = try Self.create(path)
        defer { fclose(file) }
        let probabilityFile = try probabilitiesPath.map { (path) throws(DataFormatError) in try Self.create(path) }
        defer { if let probabilityFile { fclose(probabilityFile) } }
        var written = 0
        while written < rows {
            text.removeAll(keepingCapacity: true)
            probabilities.removeAll(keepingCapacity: true)
            for _ in 0..<min(chunkRows, rows - written) {
                let probability = appendRow(to: &text)
                probabilities.append(contentsOf: "\(probability)\n".utf8)
            }
            written += min(chunkRows, rows - written)
            try Self.write(text, to: file, name: path)
            if let probabilityFile, let probabilitiesPath { try Self.write(probabilities, to: probabilityFile, name: probabilitiesPath) }
        }
    }

    /// A Zipf-distributed 0-based rank by inverting the field's cumulative frequencies.
    private mutating func drawRank(field: Int) -> Int {
        let start = vocabularyOffsets[field]
        let end = vocabularyOffsets[field + 1]
        let target = random.nextUnit() * cumulativeFrequencies[end - 1]
        var low = start
        var high = end - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulativeFrequencies[middle] <= target { low = middle + 1 } else { high = middle }
        }
        return low - start
    }

    /// A 32-bit code for a category; bijective in `rank` for a given salt, so codes never collide in a field.
    static func hexCode(rank: Int, salt: UInt32) -> UInt32 {
        var value = UInt32(truncatingIfNeeded: rank) ^ salt
        value &*= 0x9e37_79b1
        value ^= value >> 16
        value &*= 0x85eb_ca6b
        value ^= value >> 13
        return value
    }

    private static func appendHex(_ value: UInt32, to line: inout [UInt8]) {
        let digits: StaticString = "0123456789abcdef"
        for shift in stride(from: 28, through: 0, by: -4) {
            line.append(digits.utf8Start[Int((value >> UInt32(shift)) & 0xf)])
        }
    }

    private static func appendDecimal(_ value: Int64, to line: inout [UInt8]) {
        if value < 0 { line.append(UInt8(ascii: "-")) }
        let magnitude = value.magnitude
        var divisor: UInt64 = 1
        while magnitude / divisor >= 10 { divisor *= 10 }
        while divisor > 0 {
            line.append(UInt8(ascii: "0") + UInt8((magnitude / divisor) % 10))
            divisor /= 10
        }
    }

    private static func create(_ path: String) throws(DataFormatError) -> UnsafeMutablePointer<FILE> {
        guard let file = fopen(path, "wb") else {
            throw DataFormatError(file: path, line: nil, detail: "cannot create: \(String(cString: strerror(errno)))")
        }
        return file
    }

    private static func write(_ bytes: [UInt8], to file: UnsafeMutablePointer<FILE>, name: String) throws(DataFormatError) {
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        guard written == bytes.count else {
            throw DataFormatError(file: name, line: nil, detail: "write failed: \(String(cString: strerror(errno)))")
        }
    }
}
