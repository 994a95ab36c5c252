/// Which communication filters a table uses, and their parameters (topology key `filters:`).
///
/// Every filter is off by default. The lossless ones (key caching, compression) change only how
/// bytes travel; the value filters (significantly modified, KKT) and quantization change what a
/// server receives, so they are for tables whose updater tolerates it (gradients, not `assign`).
public struct FilterSettings: Hashable, Sendable {
    /// Send a key list once, then only its hash (receiver caches lists it was asked to).
    public var keyCaching: Bool
    /// The most bytes of key lists a node keeps cached per peer and table, on both sides.
    public var keyCacheBytes: Int
    /// Snappy-compress payload frames.
    public var compression: Bool
    /// Frames smaller than this many bytes are sent as they are.
    public var compressionThreshold: Int
    /// Push only entries whose accumulated change exceeds this magnitude; `nil` turns the filter off.
    public var significantlyModifiedThreshold: Float?
    /// The L1 strength λ of the KKT filter: gradient entries of zero weights with |g| ≤ λ are not
    /// pushed. `nil` turns the filter off.
    public var kktLambda: Float?
    /// Send values as 16-bit floats (lossy).
    public var quantization: Bool

    /// Creates filter settings; the defaults turn every filter off.
    public init(
        keyCaching: Bool = false,
        keyCacheBytes: Int = FilterSettings.defaultKeyCacheBytes,
        compression: Bool = false,
        compressionThreshold: Int = FilterSettings.defaultCompressionThreshold,
        significantlyModifiedThreshold: Float? = nil,
        kktLambda: Float? = nil,
        quantization: Bool = false
    ) {
        self.keyCaching = keyCaching
        self.keyCacheBytes = keyCacheBytes
        self.compression = compression
        self.compressionThreshold = compressionThreshold
        self.significantlyModifiedThreshold = significantlyModifiedThreshold
        self.kktLambda = kktLambda
        self.quantization = quantization
    }

    /// No filter at all.
    public static let none = FilterSettings()

    /// 64 MiB of cached key lists per peer and table.
    public static let defaultKeyCacheBytes = 64 << 20

    /// The smallest key cache a topology may ask for: one list of 128 keys.
    public static let minimumKeyCacheBytes = 1024

    /// Frames under 1 KiB are not worth a compression attempt.
    public static let defaultCompressionThreshold = 1024

    /// Whether any filter is on.
    public var isEmpty: Bool { self == .none }

    /// Whether a filter removes or changes pushed entries (so the server sees different values).
    public var filtersValues: Bool { significantlyModifiedThreshold != nil || kktLambda != nil }

    /// The encodings a node using these settings accepts in replies (header field `fa`).
    public var acceptedEncodings: PayloadEncodings {
        var encodings: PayloadEncodings = []
        if compression { encodings.insert(.snappy) }
        if quantization { encodings.insert(.float16) }
        return encodings
    }
}
