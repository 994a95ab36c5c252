import CZeroMQ

/// A 32-byte CurveZMQ public key, written as 40 characters of Z85 text in files and topologies.
///
/// Held in four words, so that a key costs no allocation: the transport makes one from every
/// authenticated message's `User-Id` (see ``Frame/curvePublicKey``).
public struct CurveKey: Sendable, Hashable, CustomStringConvertible {
    private let words: (UInt64, UInt64, UInt64, UInt64)

    /// The number of bytes of a key.
    public static let byteCount = 32
    /// The number of characters of a key in Z85 text.
    public static let textCount = 40

    /// The key of these 32 bytes; `nil` for any other count.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &words) { buffer in buffer.copyBytes(from: bytes) }
        self.words = words
    }

    /// The key written as `text`: exactly 40 characters of the Z85 alphabet; `nil` otherwise.
    public init?(z85 text: some StringProtocol) {
        var text = String(text)
        guard let key = text.withUTF8({ CurveKey(z85Characters: $0) }) else { return nil }
        self = key
    }

    /// The key written as these 40 characters of the Z85 alphabet (ZeroMQ RFC 32); `nil` otherwise.
    /// Decodes in place, without allocating.
    public init?(z85Characters characters: UnsafeBufferPointer<UInt8>) {
        guard characters.count == Self.textCount else { return nil }
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        let valid = withUnsafeMutableBytes(of: &words) { bytes -> Bool in
            for group in 0..<8 {
                var value: UInt64 = 0
                for index in group * 5..<group * 5 + 5 {
                    guard let digit = Self.z85Digit(characters[index]) else { return false }
                    value = value * 85 + UInt64(digit)
                }
                guard value <= UInt64(UInt32.max) else { return false }
                for shift in 0..<4 {
                    bytes[group * 4 + shift] = UInt8(truncatingIfNeeded: value >> (24 - 8 * UInt64(shift)))
                }
            }
            return true
        }
        guard valid else { return nil }
        self.words = words
    }

    /// The 32 bytes.
    public var bytes: [UInt8] {
        withUnsafeBytes(of: words) { Array($0) }
    }

    /// The 40 characters of Z85 text.
    public var z85: String {
        Self.encode(bytes)
    }

    /// The Z85 text: a public key may be shown and logged.
    public var description: String { z85 }

    public static func == (lhs: CurveKey, rhs: CurveKey) -> Bool {
        lhs.words.0 == rhs.words.0 && lhs.words.1 == rhs.words.1 && lhs.words.2 == rhs.words.2
            && lhs.words.3 == rhs.words.3
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }

    /// The Z85 alphabet (ZeroMQ RFC 32), in digit order.
    private static let alphabet = Array(
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)

    /// The value of a Z85 character, or `nil` for one outside the alphabet.
    private static let digits: [UInt8?] = {
        var digits = [UInt8?](repeating: nil, count: 256)
        for (value, character) in alphabet.enumerated() { digits[Int(character)] = UInt8(value) }
        return digits
    }()

    private static func z85Digit(_ character: UInt8) -> UInt8? { digits[Int(character)] }

    /// The Z85 text of 32 bytes.
    static func encode(_ bytes: [UInt8]) -> String {
        var text = [CChar](repeating: 0, count: textCount + 1)
        _ = zmq_z85_encode(&text, bytes, bytes.count)
        return String(decoding: text.prefix(textCount).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A 32-byte CurveZMQ secret key. It never appears in descriptions, logs or errors.
public struct CurveSecretKey: Sendable, Hashable, CustomStringConvertible {
    /// The 32 bytes, for ``SocketOption/curveSecretKey``.
    public let bytes: [UInt8]

    /// The key of these 32 bytes; `nil` for any other count.
    public init?(bytes: [UInt8]) {
        guard bytes.count == CurveKey.byteCount else { return nil }
        self.bytes = bytes
    }

    /// The key written as 40 characters of Z85 text; `nil` otherwise.
    public init?(z85 text: some StringProtocol) {
        guard let key = CurveKey(z85: text) else { return nil }
        self.bytes = key.bytes
    }

    /// The 40 characters of Z85 text, for writing a key file.
    public var z85: String { CurveKey.encode(bytes) }

    /// Stands in for the key, which is never shown.
    public var description: String { "<curve secret key>" }
}

/// A CurveZMQ key pair: a public key others may know and the secret key that goes with it.
public struct CurveKeyPair: Sendable, Hashable {
    /// The key peers name this party by.
    public let publicKey: CurveKey
    /// The key only this party holds.
    public let secretKey: CurveSecretKey

    /// The pair of `secretKey`, its public key derived from it (`zmq_curve_public`).
    public init(secretKey: CurveSecretKey) throws(ZMQError) {
        var publicText = [CChar](repeating: 0, count: CurveKey.textCount + 1)
        let secretText = Array(secretKey.z85.utf8CString)
        try ZMQCall.run("zmq_curve_public") { zmq_curve_public(&publicText, secretText) }
        let text = String(decoding: publicText.prefix(CurveKey.textCount).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let publicKey = CurveKey(z85: text) else {
            throw ZMQError(code: EINVAL, context: "zmq_curve_public: not a Z85 key")
        }
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// A new random pair (`zmq_curve_keypair`). Fails with ``ZMQError/Code/notSupported`` when
    /// libzmq was built without CURVE.
    public static func generate() throws(ZMQError) -> CurveKeyPair {
        var publicText = [CChar](repeating: 0, count: CurveKey.textCount + 1)
        var secretText = [CChar](repeating: 0, count: CurveKey.textCount + 1)
        try ZMQCall.run("zmq_curve_keypair") { zmq_curve_keypair(&publicText, &secretText) }
        func key(_ text: [CChar]) -> String {
            String(decoding: text.prefix(CurveKey.textCount).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        guard let publicKey = CurveKey(z85: key(publicText)), let secretKey = CurveSecretKey(z85: key(secretText)) else {
            throw ZMQError(code: EINVAL, context: "zmq_curve_keypair: not a Z85 key")
        }
        return CurveKeyPair(publicKey: publicKey, secretKey: secretKey)
    }

    private init(publicKey: CurveKey, secretKey: CurveSecretKey) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// Whether the libzmq this process runs against was built with CURVE (`zmq_has("curve")`).
    public static var isSupported: Bool { zmq_has("curve") != 0 }
}
