import ParameterServer
import Testing
@testable import SparseLR

@Suite struct CriteoFieldSplitTests {
    /// Where each field starts by a byte-by-byte scan, as `CriteoFormat.splitFields` must find them.
    static func naiveStarts(_ line: [UInt8]) -> (fields: Int, starts: [Int]) {
        var starts = [0]
        for (offset, byte) in line.enumerated() where byte == UInt8(ascii: "\t") {
            if starts.count == CriteoFormat.fieldCount { return (CriteoFormat.fieldCount + 1, starts) }
            starts.append(offset + 1)
        }
        return (starts.count, starts + [line.count + 1])
    }

    @Test func findsEveryTabAtEveryOffsetAndStopsPastFortyFields() {
        // Tabs, the bytes next to 0x09 (0x08 and 0x0a, which a borrow or carry between bytes would
        // confuse with a tab), 0x89 (a tab with bit 7 set) and text; lengths across the 8- and 64-byte blocks.
        let alphabet: [UInt8] = [0x09, 0x09, 0x09, 0x08, 0x0a, 0x89, 0x00, 0xff, UInt8(ascii: "a"), UInt8(ascii: "7")]
        var random = SplitMix64(seed: 16)
        for round in 0..<3_000 {
            let length = Int(random.next() % 300)
            let line = (0..<length).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }
            let (fields, starts) = Self.naiveStarts(line)
            let found = withUnsafeTemporaryAllocation(of: Int.self, capacity: CriteoFormat.fieldCount + 1) { buffer in
                line.withUnsafeBytes { bytes in
                    let count = CriteoFormat.splitFields(bytes, starts: buffer)
                    return (count, Array(buffer.prefix(min(count, CriteoFormat.fieldCount) + (count > CriteoFormat.fieldCount ? 0 : 1))))
                }
            }
            #expect(found.0 == fields, "round \(round): \(line)")
            #expect(found.1 == starts, "round \(round): \(line)")
            if found.0 != fields || found.1 != starts { return }
        }
    }
}
