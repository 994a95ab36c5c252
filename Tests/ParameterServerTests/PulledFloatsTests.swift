import Testing
import ZeroMQ

@testable import ParameterServer

/// The floats of a pull read in place: one reply, several (one of them empty), frames that start at
/// an odd address, and the copy out, element by element against the floats that went in.
@Suite("Pulled floats read in place")
struct PulledFloatsTests {
    /// Frames holding `parts` as the wire has them, each placed one byte into its buffer so that its
    /// floats are not 4-byte aligned.
    static func unalignedFrames(_ parts: [[Float]]) -> [(frame: Frame, count: Int)] {
        parts.map { floats in
            let bytes = [UInt8](repeating: 0xAB, count: 1) + floats.withUnsafeBytes { Array($0) } + [0xCD]
            return (Frame(array: bytes, range: 1..<(1 + 4 * floats.count)), floats.count)
        }
    }

    @Test(arguments: [
        [[Float(1.5), -2, 3.25]],
        [[1, 2], [], [3, 4, 5], [Float.greatestFiniteMagnitude]],
        [[], []],
    ])
    func floatsReadInPlaceAreTheFloatsThatWentIn(parts: [[Float]]) {
        let floats = PulledFloats(Self.unalignedFrames(parts))
        let expected = parts.flatMap { $0 }
        #expect(floats.count == expected.count)
        #expect(Array(floats) == expected)
        #expect(floats.array == expected)
        #expect(floats.indices.map { floats[$0] } == expected)
        var copied = [Float](repeating: .nan, count: expected.count)
        copied.withUnsafeMutableBytes { floats.copyBytes(to: $0) }
        #expect(copied == expected)
        var partBytes: [Int] = []
        floats.forEachPart { partBytes.append($0.count) }
        #expect(partBytes == parts.map { 4 * $0.count })
    }

    @Test func anArrayIsWrappedWithoutACopyAndReadBack() {
        let values: [Float] = (0..<1000).map { Float($0) / 8 }
        let floats = PulledFloats(values)
        #expect(floats.count == 1000 && floats[999] == values[999] && floats.array == values)
        let pulled = PulledValues(values: values, clock: [1, 2], timestamp: Timestamp(7))
        #expect(pulled.values == values && Array(pulled.floats) == values)
    }

    @Test func aResultReadInPlaceCopiesOutOnlyWhenAskedForAnArray() {
        let frames = Self.unalignedFrames([[1, 2], [3]])
        var pulled = PulledValues(floats: PulledFloats(frames), clock: nil, timestamp: Timestamp(3))
        #expect(pulled.values == [1, 2, 3] && Array(pulled.floats) == [1, 2, 3])
        pulled.values = [9]
        #expect(pulled.values == [9] && pulled.floats.array == [9])
    }
}
