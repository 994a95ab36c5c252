import Foundation
import Testing
import ZeroMQ

@testable import ParameterServer

/// The seed corpora of the libFuzzer targets (Fuzz/corpus/<target>/seed-<n>), made here from the
/// wire samples so that they follow the codecs. The test fails when a committed seed differs from
/// what this build makes; `ZPS_WRITE_FUZZ_CORPUS=1 swift test --filter FuzzCorpus` writes them.
@Suite("Fuzz seed corpora")
struct FuzzCorpusTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The input of a message target for `frames`: Fuzz/Sources/FuzzSupport/FuzzInput.swift reads
    /// byte 0 as the frame count minus one, then each frame but the last after its length as a
    /// little-endian UInt16.
    static func joining(_ frames: [[UInt8]]) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(frames.count - 1)]
        for (index, frame) in frames.enumerated() {
            if index < frames.count - 1 { bytes += [UInt8(frame.count & 0xff), UInt8(frame.count >> 8)] }
            bytes += frame
        }
        return bytes
    }

    static let kinds: [MessageKind] = [.push, .pull, .pullReply, .register, .nodeTable, .error, .replicate]

    /// The seeds of every target, by target name.
    static func seeds() throws -> [String: [[UInt8]]] {
        let headers = kinds.flatMap { [WireSamples.minimalHeader($0), WireSamples.fullHeader($0)] }
        let messages = kinds.map { WireSamples.message(for: WireSamples.minimalHeader($0)) }
            + [WireSamples.message(for: WireSamples.minimalHeader(.push, flags: .hasLengths))]
            // A compressed push, for the receive filters.
            + [SnappyCompression.compress(WireSamples.message(for: WireSamples.minimalHeader(.push)), threshold: 0)]
        let tableValue = try #require(WireSamples.independentEntries(WireSamples.minimalHeader(.nodeTable)).first { $0.0 == "nt" }?.1)
        let keys = WireSamples.keys.withUnsafeBytes { Array($0) }
        let store: [UInt8] = [UInt8(WireSamples.keys.count << 3)] + keys
        let restore: [UInt8] = [UInt8(WireSamples.keys.count << 3 | 1)] + keys
        let floats: [Float] = (0..<64).map { $0 % 8 == 0 ? Float($0) : 0 }
        let topologies = try ["local.yaml", "pushpull.yaml", "criteo-filters.yaml"].map { name in
            try Array(Data(contentsOf: root.appendingPathComponent("Topologies/\(name)")))
        }
        return [
            "FuzzHeaderCodec": headers.map { HeaderCodec.encode($0).bytes },
            "FuzzMessage": messages.map { joining(WireSamples.byteFrames($0)) },
            "FuzzNodeTable": [
                tableValue.bytes, WirePackValue.map([("ver", .unsigned(1)), ("nodes", .array([]))]).bytes,
            ],
            "FuzzKeyCache": [store + restore, store + store + restore + restore, restore, [UInt8(1 << 3 | 2)] + Array(keys[0..<16])],
            "FuzzSnappy": [
                [0, 0, 0, 0] + floats.withUnsafeBytes { Array($0) },
                [16, 0, 0, 0, 16, 0x3c] + Array(repeating: 7, count: 16),
                [0, 0, 0, 0] + Array("the same words, the same words, the same words".utf8),
            ],
            "FuzzTopology": topologies,
            "FuzzServerMachine": try serverRequests().map { joining(WireSamples.byteFrames($0)) },
        ]
    }

    /// Requests of worker 2 to the fuzzed server (keys [0, 2^20), tables 0 and 1, 2 floats per key),
    /// and the push of issue 17's attack 1 (an unassigned sender with a timestamp).
    static func serverRequests() throws -> [Message] {
        let keys = Frame(array: WireSamples.keys)
        let values = Frame(array: WireSamples.keys.flatMap { [Float($0), 1] })
        func header(_ kind: MessageKind, sender: NodeID = NodeID(2), id: UInt64) -> Header {
            Header(kind: kind, sender: sender, requestID: id, table: 0, timestamp: Int64(id), keyCount: UInt32(WireSamples.keys.count), valueLength: 2)
        }
        var pullWithClock = header(.pull, id: 2)
        pullWithClock.flags = .wantClock
        var rangePull = Header(kind: .pull, sender: NodeID(2), requestID: 1, table: 1, flags: [.rangeRequest], valueLength: 2)
        rangePull.keyRange = KeyRange(0, 1 << 10)
        var function = Header(kind: .rangeFunction, sender: NodeID(3), requestID: 1, table: 0, timestamp: 1, updater: "scale")
        function.keyRange = KeyRange(0, 1 << 20)
        function.arguments = [0.5]
        return [
            Message(header: header(.push, id: 1), keys: keys, values: values),
            Message(header: pullWithClock, keys: keys),
            Message(header: rangePull),
            Message(header: function),
            Message(header: header(.push, sender: .unassigned, id: 1), keys: keys, values: values),
            SnappyCompression.compress(Message(header: header(.push, id: 1), keys: keys, values: values), threshold: 0),
        ]
    }

    @Test("the committed seeds are the ones this build makes, and each seed of a codec target decodes")
    func seedsMatch() throws {
        let seeds = try Self.seeds()
        let write = ProcessInfo.processInfo.environment["ZPS_WRITE_FUZZ_CORPUS"] != nil
        for (target, inputs) in seeds {
            let directory = Self.root.appendingPathComponent("Fuzz/corpus/\(target)")
            if write {
                try? FileManager.default.removeItem(at: directory)
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            }
            for (index, input) in inputs.enumerated() {
                let file = directory.appendingPathComponent("seed-\(index)")
                if write { try Data(input).write(to: file) }
                #expect((try? Array(Data(contentsOf: file))) == input, "\(target)/seed-\(index)")
            }
            let committed = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            #expect(committed.count == inputs.count, "\(target): \(committed.sorted())")
        }
        for input in try #require(seeds["FuzzHeaderCodec"]) {
            #expect(throws: Never.self) { try HeaderCodec.decode(input) }
        }
    }
}
