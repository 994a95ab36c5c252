/// The request payloads of `ps_bench`: four sets of `count` sorted, unique keys drawn uniformly over
/// a key space of 2^24, with small random values, made by the same generator so both sides send
/// the same shapes.
struct KeySets: Sendable {
    /// The key space `ps_bench` uses.
    static let keySpace: UInt64 = 1 << 24

    /// The key sets, used round-robin.
    let keys: [[UInt64]]
    /// For each set, `valueLength` floats per key.
    let values: [[Float]]

    init(count: Int, valueLength: Int = 1, sets: Int = 4, keySpace: UInt64 = KeySets.keySpace) {
        var state: UInt64 = 0x1234567
        func next() -> UInt64 {
            var x = state
            x ^= x >> 12
            x ^= x << 25
            x ^= x >> 27
            state = x
            return x &* 0x2545F4914F6CDD1D
        }
        func nextFloat() -> Float { Float(Double(next() >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0) }
        let averageGap = max(1, UInt64(0.9 * Double(keySpace) / Double(count)))
        var keys: [[UInt64]] = []
        var values: [[Float]] = []
        for _ in 0..<sets {
            var set = [UInt64](repeating: 0, count: count)
            var setValues = [Float](repeating: 0, count: count * valueLength)
            var key = next() % averageGap
            for i in 0..<count {
                set[i] = key
                key += 1 + (averageGap > 1 ? next() % (2 * averageGap - 1) : 0)
                for j in 0..<valueLength { setValues[i * valueLength + j] = nextFloat() * 0.01 }
            }
            precondition(set[count - 1] < keySpace, "key set overflows the key space")
            keys.append(set)
            values.append(setValues)
        }
        self.keys = keys
        self.values = values
    }
}
