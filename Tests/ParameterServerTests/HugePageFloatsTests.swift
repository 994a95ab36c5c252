import Foundation
import Testing
@testable import ParameterServer

@Suite("Dense store memory in huge pages")
struct HugePageFloatsTests {
    @Test("the array holds exactly the zeros asked for, small or large")
    func zeroFilled() {
        #expect(HugePageFloats.zeroed(count: 0).isEmpty)
        #expect(HugePageFloats.zeroed(count: 3) == [0, 0, 0])
        let large = HugePageFloats.zeroed(count: (8 << 20) + 5)
        #expect(large.count == (8 << 20) + 5)
        #expect(large.allSatisfy { $0 == 0 })
    }

    /// The kernel's transparent huge page mode, e.g. `always [madvise] never` (empty where there is none).
    static let hugePageMode =
        ((try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8)) ?? "")
        .trimmingCharacters(in: .whitespacesAndNewlines)

    /// Whether an `madvise(MADV_HUGEPAGE)` can get huge pages here.
    static var kernelOffersHugePages: Bool { hugePageMode.contains("[madvise]") || hugePageMode.contains("[always]") }

    @Test(
        "the values of a 2^24-key store lie in transparent huge pages when the kernel offers them",
        .enabled(
            if: kernelOffersHugePages,
            "the kernel offers no transparent huge pages (transparent_hugepage/enabled: \(hugePageMode.isEmpty ? "absent" : hugePageMode))"))
    func storeInHugePages() throws {
        let values = HugePageFloats.zeroed(count: 1 << 24)
        let hugeKiB = try values.withUnsafeBufferPointer { buffer in
            let start = UInt(bitPattern: buffer.baseAddress)
            return try Self.anonHugePagesKiB(in: start..<(start + UInt(buffer.count * 4)))
        }
        // 64 MiB, of which at most the two unaligned ends (under 2 MiB each) are ordinary pages.
        #expect(hugeKiB >= 60 << 10, "AnonHugePages of the array's mapping: \(hugeKiB) KiB")
        #expect(values[(1 << 24) - 1] == 0)
    }

    /// The `AnonHugePages` of the mappings of this process that overlap `addresses`, added up
    /// (/proc/self/smaps): the advice splits the array's mapping at its first and last 2 MiB boundary.
    private static func anonHugePagesKiB(in addresses: Range<UInt>) throws -> Int {
        // Read to the end: /proc files report no size, and a read by size stops after one page.
        guard let file = FileHandle(forReadingAtPath: "/proc/self/smaps") else { throw SmapsError() }
        defer { try? file.close() }
        let smaps = String(decoding: try file.readToEnd() ?? Data(), as: UTF8.self)
        var overlaps = false
        var total = 0
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = fields.first else { continue }
            let bounds = first.split(separator: "-")
            if bounds.count == 2, let lower = UInt(bounds[0], radix: 16), let upper = UInt(bounds[1], radix: 16) {
                overlaps = (lower..<upper).overlaps(addresses)
            } else if overlaps, first == "AnonHugePages:", fields.count >= 2 {
                total += Int(fields[1]) ?? 0
            }
        }
        return total
    }

    private struct SmapsError: Error {}
}
