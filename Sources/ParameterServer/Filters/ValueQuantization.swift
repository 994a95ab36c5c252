import ZeroMQ

/// Lossy 16-bit quantization of values: Float32 to IEEE 754 half precision and back
/// (flag ``MessageFlags/float16Values``). Magnitudes above 65504 are clamped rather than sent as
/// infinity; the relative error of the rest is below 2^-11.
public enum ValueQuantization {
    /// The largest finite half-precision value.
    static let limit: Float = 65504

    /// The message with its values frame as half floats.
    public static func quantize(_ message: Message) -> Message {
        guard let values = message.values, !message.header.flags.contains(.float16Values),
            message.header.compressedSizes == nil
        else { return message }
        let count = values.count / 4
        let narrowed = values.withUnsafeBytes { input in
            Frame.allocate(count: 2 * count) { output in
                guard let target = output.baseAddress else { return }
                for index in 0..<count {
                    let value = input.loadUnaligned(fromByteOffset: 4 * index, as: Float.self)
                    let half = Float16(min(max(value, -limit), limit))
                    target.storeBytes(of: half.bitPattern, toByteOffset: 2 * index, as: UInt16.self)
                }
            }
        }
        var result = message
        result.values = narrowed
        result.header.flags.insert(.float16Values)
        return result
    }

    /// The message with its half floats widened back to Float32.
    public static func dequantize(_ message: Message) throws(WireError) -> Message {
        guard message.header.flags.contains(.float16Values) else { return message }
        guard let values = message.values else { return message }
        guard values.count % 2 == 0 else {
            throw WireError(.sizeMismatch, field: "values", "\(values.count) bytes are not whole half floats")
        }
        let count = values.count / 2
        let widened = values.withUnsafeBytes { input in
            Frame.allocate(count: 4 * count) { output in
                guard let target = output.baseAddress else { return }
                for index in 0..<count {
                    let bits = input.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self)
                    target.storeBytes(of: Float(Float16(bitPattern: bits)), toByteOffset: 4 * index, as: Float.self)
                }
            }
        }
        var result = message
        result.values = widened
        result.header.flags.remove(.float16Values)
        return result
    }
}
