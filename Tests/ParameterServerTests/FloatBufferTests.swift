import Foundation
import Testing
@testable import ParameterServer

@Suite("Store memory: zeroed lazily, in huge pages")
struct FloatBufferTests {
    @Test("a zeroed buffer holds exactly the zeros asked for, small or large, and keeps what is written")
    func zeroFilled() {
        #expect(FloatBuffer.zeroed(count: 0).baseAddress == nil)
        let small = FloatBuffer.zeroed(count: 3)
        #expect(small.array(0..<3) == [0, 0, 0])
        let count = (8 << 20) + 5
        let large = FloatBuffer.zeroed(count: count)
        #expect(large.count == count)
        #expect(large.buffer.allSatisfy { $0 == 0 })
        large.buffer[count - 1] = 2.5
        large.buffer[7] = -1
        #expect(large.array((count - 2)..<count) == [0, 2.5])
        #expect(large.array(6..<9) == [0, -1, 0])
    }

    @Test("making a large zeroed buffer writes none of its pages: they become resident only when touched")
    func lazilyZeroed() throws {
        // 256 MiB: zeroing it eagerly would make all of it resident.
        let count = 1 << 26
        let buffer = FloatBuffer.zeroed(count: count)
        let before = try Self.residentPages(buffer)
        #expect(before == 0, "resident 4 KiB pages of a fresh 256 MiB buffer: \(before)")
        // Writing one float in every 16 MiB makes at most one (huge) page of each resident.
        for index in stride(from: 0, to: count, by: 1 << 22) { buffer.buffer[index] = 1 }
        let after = try Self.residentPages(buffer)
        #expect(after >= 16 && after <= 16 * 512, "resident 4 KiB pages after 16 writes: \(after)")
        #expect(buffer.buffer[1 << 22] == 1 && buffer.buffer[(1 << 22) + 1] == 0)
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
        let values = FloatBuffer.zeroed(count: 1 << 24)
        // What a store's first pushes do: write every value.
        values.buffer.update(repeating: 1)
        let start = UInt(bitPattern: values.baseAddress)
        let hugeKiB = try Self.smapsKiB("AnonHugePages:", in: start..<(start + UInt(values.count * 4)))
        // 64 MiB, of which at most the two unaligned ends (under 2 MiB each) are ordinary pages.
        #expect(hugeKiB >= 60 << 10, "AnonHugePages of the buffer's mapping: \(hugeKiB) KiB")
        #expect(values.buffer[(1 << 24) - 1] == 1)
    }

    /// How many 4 KiB pages of `buffer` are resident (`mincore`).
    private static func residentPages(_ buffer: borrowing FloatBuffer) throws -> Int {
        let bytes = buffer.count * 4
        var vector = [UInt8](repeating: 0, count: (bytes + 4095) / 4096)
        guard mincore(buffer.baseAddress, bytes, &vector) == 0 else { throw SmapsError() }
        return vector.reduce(0) { $0 + Int($1 & 1) }
    }

    /// The `field` (e.g. `Rss:`) of the mappings of this process that overlap `addresses`, added up
    /// (/proc/self/smaps): the advice splits the buffer's mapping at its first and last 2 MiB boundary.
    private static func smapsKiB(_ field: Substring, in addresses: Range<UInt>) throws -> Int {
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
            } else if overlaps, first == field, fields.count >= 2 {
                total += Int(fields[1]) ?? 0
            }
        }
        return total
    }

    private struct SmapsError: Error {}
}
