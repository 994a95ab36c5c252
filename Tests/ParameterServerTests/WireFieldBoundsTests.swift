import Logging
import Testing
import ZeroMQ

@testable import ParameterServer

/// Every header field of a push, set to extreme values (0, 1, the largest allowed, one beyond each
/// bound, the type's maximum), sent to a server machine: the push is applied, held, or refused with
/// the exact code and field; a refused or held push leaves the stores and clocks as they were; and
/// the sender's next push is applied afterwards (a refused request uses up its id).
@Suite("Header fields at their bounds, through the server machine")
struct WireFieldBoundsTests {
    /// The worker of ``RoleMachineTests/registeredServer()``.
    static let worker = NodeID(2)
    static let peer = RoleMachineTests.routed("mem://worker-0")
    static let keys: [UInt64] = [3, 7]
    static let values: [Float] = [1, 2, 3, 4]
    static let limits = WireLimits.default

    /// What the server does with one push.
    enum Outcome: Equatable, CustomStringConvertible {
        /// Acknowledged and applied.
        case applied
        /// Answered with an error of this code naming this field, echoing the request id.
        case refused(ErrorCode, String)
        /// No reply yet; after the heartbeat timeout, refused with this code and field.
        case heldThenRefused(ErrorCode, String)
        /// No reply; still held (it waits for an earlier id of its sender).
        case held

        var description: String {
            switch self {
            case .applied: return "applied"
            case .refused(let code, let field): return "refused \(code.name) at \(field)"
            case .heldThenRefused(let code, let field): return "held, then refused \(code.name) at \(field)"
            case .held: return "held"
            }
        }
    }

    /// A valid push of ``keys`` and ``values`` from ``worker``, request id 1, as independent entries.
    static var validEntries: [(String, WirePackValue)] {
        WireSamples.independentEntries(Header(
            kind: .push, sender: worker, requestID: 1, table: 0, timestamp: 1, keyCount: 2, valueLength: 2))
    }

    static func frames(_ entries: [(String, WirePackValue)]) -> [Frame] {
        [Frame(bytes: WirePackValue.map(entries).bytes), Frame(array: keys), Frame(array: values)]
    }

    static func setting(_ key: String, to value: WirePackValue) -> [(String, WirePackValue)] {
        var entries = validEntries.filter { $0.0 != key }
        entries.append((key, value))
        return entries
    }

    /// The stores' keys and values and the clock of the whole table.
    static func state(of server: ServerCore) throws -> (keys: [UInt64], values: [Float], clock: [Int64]?) {
        let table = try #require(server.tables[0])
        let snapshot = table.snapshot(of: RoleMachineTests.keySpace)
        return (snapshot.keys, snapshot.values, table.clock(of: []))
    }

    /// The error code and field an error reply names: its message reads `name at field: detail`.
    static func codeAndField(_ header: Header) -> (ErrorCode?, String?) {
        let field = header.errorMessage.flatMap { message -> String? in
            guard let at = message.range(of: " at "), let colon = message[at.upperBound...].firstIndex(of: ":") else { return nil }
            return String(message[at.upperBound..<colon])
        }
        return (header.errorCode, field)
    }

    /// Sends `entries` as a push and checks `expected`; then checks the stores, and that a valid push
    /// with the sender's next id is applied.
    func check(_ field: String, _ value: WirePackValue, _ expected: Outcome, entries: [(String, WirePackValue)]? = nil) throws {
        let label = "\(field) = \(value): \(expected)"
        let server = try RoleMachineTests.registeredServer()
        let before = try Self.state(of: server)
        let context = RoleMachineTests.at(.milliseconds(2), on: "mem://server-0")
        let sent = entries ?? Self.setting(field, to: value)
        let identity = HeaderCodec.identity(of: Frame(bytes: WirePackValue.map(sent).bytes))
        var replies = try RoleMachineTests.sends(server.handle(.received(Self.frames(sent), from: Self.peer), context: context))
        switch expected {
        case .heldThenRefused, .held:
            #expect(replies.isEmpty, "\(label): no reply while held")
            if case .heldThenRefused = expected {
                // The tick also sends the manager a heartbeat: only the replies to the worker count.
                replies = try RoleMachineTests.sends(server.handle(
                    .tick, context: RoleMachineTests.at(.seconds(4), on: "mem://server-0"))).filter { $0?.to == Self.peer }
            }
        case .applied, .refused:
            break
        }
        var applied = 0
        switch expected {
        case .applied:
            #expect(replies.count == 1, "\(label)")
            #expect(replies.first??.header.kind == .pushAck, "\(label)")
            #expect(replies.first??.header.requestID == identity?.requestID, "\(label)")
            applied = 1
        case .refused(let code, let name), .heldThenRefused(let code, let name):
            #expect(replies.count == 1, "\(label)")
            let reply = try #require(replies.first ?? nil, "\(label)")
            #expect(reply.header.kind == .error, "\(label)")
            let (replyCode, replyField) = Self.codeAndField(reply.header)
            #expect(replyCode == code && replyField == name, "\(label): got \(reply.header.errorMessage ?? "no message")")
            #expect(reply.header.requestID == identity?.requestID, "\(label): the error echoes the request id")
            #expect(reply.to == Self.peer, "\(label)")
        case .held:
            break
        }
        let after = try Self.state(of: server)
        if applied == 0 {
            #expect(after.keys == before.keys && after.values == before.values, "\(label): stores unchanged")
            #expect(after.clock == before.clock, "\(label): clocks unchanged")
        }
        #expect(after.clock?.count == before.clock?.count, "\(label): no clock entry beyond the node table")

        // The sender's next push: id 2 when the refused push used up id 1 of the worker, else id 1.
        let usedUp = identity.map { $0.sender == Self.worker && $0.requestID == 1 } ?? false
        let nextID: UInt64 = usedUp && expected != .held ? 2 : 1
        let follow = try RoleMachineTests.sends(server.handle(
            .received(RoleMachineTests.push(requestID: nextID, keys: Self.keys, values: Self.values), from: Self.peer),
            context: RoleMachineTests.at(.seconds(5), on: "mem://server-0")))
        #expect(follow.count == 1, "\(label): the next push is answered")
        #expect(follow.first??.header.kind == .pushAck, "\(label): the next push is applied")
        #expect(follow.first??.header.requestID == nextID, "\(label)")
        let final = try Self.state(of: server)
        #expect(Self.byKey(final) == Self.adding(Self.byKey(before), times: applied + 1), "\(label): the stores hold exactly the applied pushes")
    }

    /// Each stored key's values.
    static func byKey(_ state: (keys: [UInt64], values: [Float], clock: [Int64]?)) -> [UInt64: [Float]] {
        Dictionary(uniqueKeysWithValues: state.keys.enumerated().map { ($0.element, Array(state.values[(2 * $0.offset)..<(2 * $0.offset + 2)])) })
    }

    /// `store` after `times` pushes of ``keys`` and ``values`` under the table's updater (`add`).
    static func adding(_ store: [UInt64: [Float]], times: Int) -> [UInt64: [Float]] {
        var result = store
        for (position, key) in keys.enumerated() {
            let old = result[key] ?? [0, 0]
            result[key] = (0..<2).map { old[$0] + Float(times) * values[2 * position + $0] }
        }
        return result
    }

    @Test("a refused request uses up its id: the next id is served at once, not held, and a retry of the refused one gets its error again and applies nothing")
    func refusedRequestUsesUpItsID() throws {
        let server = try RoleMachineTests.registeredServer()
        let context = RoleMachineTests.at(.milliseconds(2), on: "mem://server-0")
        func send(_ frames: [Frame]) throws -> [Header] {
            try RoleMachineTests.sends(server.handle(.received(frames, from: Self.peer), context: context)).compactMap { $0?.header }
        }
        // Id 1: its header is refused (a table id beyond uint32), but its sender and id decode.
        let refusedFrames = Self.frames(Self.setting("t", to: .unsigned(UInt64(UInt32.max) + 1)))
        let refused = try send(refusedFrames)
        #expect(refused.map(\.kind) == [.error])
        #expect(refused.map(\.requestID) == [1])
        #expect(refused.first?.errorCode == .malformedHeader)
        // Id 2 is next in order: applied at once.
        let next = try send(RoleMachineTests.push(requestID: 2, keys: Self.keys, values: Self.values))
        #expect(next.map(\.kind) == [.pushAck])
        #expect(next.map(\.requestID) == [2])
        // Id 1 again, now as a valid push with the retry flag: the kept error answers it, nothing is applied.
        var retry = Self.setting("f", to: .unsigned(UInt64(MessageFlags.retry.rawValue)))
        retry.removeAll { $0.0 == "id" }
        retry.append(("id", .unsigned(1)))
        let again = try send(Self.frames(retry))
        #expect(again.map(\.kind) == [.error])
        #expect(again.map(\.requestID) == [1])
        #expect(again.first?.errorMessage == refused.first?.errorMessage)
        let fresh = Self.byKey(try Self.state(of: RoleMachineTests.registeredServer()))
        #expect(Self.byKey(try Self.state(of: server)) == Self.adding(fresh, times: 1), "only push 2 is applied")
    }

    @Test("a manager gives out no node id beyond maxNodeID and no more than maxNodes: a client that would need one is refused tooLarge")
    func managerIDBound() throws {
        var settings = ManagerSettings(
            bindEndpoint: "mem://manager", servers: 1, workers: 1, keySpace: RoleMachineTests.keySpace,
            deadlines: RoleMachineTests.deadlines)
        settings.limits = WireLimits(maxNodes: 5, maxNodeID: 4)
        let manager = ManagerCore(settings: settings, logger: RoleMachineTests.logger) { _ in }
        let context = RoleMachineTests.at(.zero, on: "mem://manager")
        _ = manager.handle(.started, context: context)
        func register(_ role: NodeRole, _ endpoint: String, id: UInt64) throws -> [(header: Header, payload: [[UInt8]], to: PeerAddress, onFailure: SendFailurePolicy)?] {
            let frames = MessageCodec.encode(Message(header: Header(kind: .register, requestID: id, role: role, rank: 0, endpoint: endpoint)))
            return try RoleMachineTests.sends(manager.handle(.received(frames, from: RoleMachineTests.routed(endpoint)), context: context))
        }
        _ = try register(.server, "mem://server-0", id: 1)
        _ = try register(.worker, "mem://worker-0", id: 1)
        // Ids 3 and 4 go to the first two clients; a third would need id 5.
        for (index, endpoint) in ["mem://client-0", "mem://client-1"].enumerated() {
            let replies = try register(.client, endpoint, id: 7)
            let tables = replies.compactMap { $0?.header.nodeTable }
            let table = try #require(tables.last)
            #expect(table.nodes.map(\.id.rawValue).max() == UInt32(3 + index))
        }
        let refused = try register(.client, "mem://client-2", id: 7)
        #expect(refused.count == 1)
        let reply = try #require(refused.first ?? nil)
        #expect(reply.header.kind == .error)
        #expect(reply.header.errorCode == .tooLarge)
        #expect(reply.header.requestID == 7)
        #expect(Self.codeAndField(reply.header).1 == "nt.nodes")
        #expect(reply.to == RoleMachineTests.routed("mem://client-2"))
    }

    @Test("a Snappy frame that declares more than its bytes can hold is refused before its output is allocated")
    func snappyDeclaredSize() {
        let frame = Frame(array: [0x80, 0x80, 0x80, 0x80, 0x04] as [UInt8])  // declares 1 GiB in 5 bytes
        #expect(throws: WireError(.unsupportedEncoding, field: "cz[0]", "1073741824 bytes cannot come from 5 bytes of Snappy data")) {
            try SnappyCompression.decompress(frame, size: 1 << 30, field: "cz[0]")
        }
    }

    @Test("s: the unassigned id (attack 1: 0xFFFFFFFF with a timestamp) is refused as notRegistered; ids beyond maxNodeID are refused")
    func sender() throws {
        let maxID = UInt64(Self.limits.maxNodeID)
        try check("s", .unsigned(UInt64(UInt32.max)), .refused(.notRegistered, "s"))
        try check("s", .unsigned(2), .applied)
        try check("s", .unsigned(1), .applied)
        for unknown in [0, 3, maxID - 1, maxID] {
            try check("s", .unsigned(unknown), .heldThenRefused(.notRegistered, "s"))
        }
        for beyond in [maxID + 1, UInt64(UInt32.max) - 1] {
            try check("s", .unsigned(beyond), .refused(.tooLarge, "s"))
        }
        try check("s", .unsigned(UInt64(UInt32.max) + 1), .refused(.malformedHeader, "s"))
        try check("s", .unsigned(UInt64.max), .refused(.malformedHeader, "s"))
    }

    @Test("id: 0 is refused, 1 applied, later ids held for the gap")
    func requestID() throws {
        try check("id", .unsigned(0), .refused(.invalidRequest, "id"))
        try check("id", .unsigned(1), .applied)
        try check("id", .unsigned(UInt64.max - 1), .held)
        try check("id", .unsigned(UInt64.max), .held)
        try check("id", .signed(-1), .refused(.malformedHeader, "id"))
    }

    @Test("t, ts, n, vl at and beyond their bounds")
    func scalars() throws {
        let maxKeys = UInt64(Self.limits.maxKeysPerMessage)
        let maxLength = UInt64(Self.limits.maxValueLength)
        try check("t", .unsigned(0), .applied)
        for table in [1, UInt64(UInt32.max) - 1, UInt64(UInt32.max)] { try check("t", .unsigned(table), .refused(.unknownTable, "t")) }
        try check("t", .unsigned(UInt64(UInt32.max) + 1), .refused(.malformedHeader, "t"))
        for timestamp: Int64 in [0, 1, -1, Int64.max, Int64.max - 1, Int64.min] { try check("ts", .signed(timestamp), .applied) }
        try check("ts", .unsigned(UInt64(Int64.max) + 1), .refused(.malformedHeader, "ts"))
        for count in [0, 1, 3, maxKeys - 1, maxKeys] { try check("n", .unsigned(count), .refused(.sizeMismatch, "frame 1 (keys)")) }
        for count in [maxKeys + 1, UInt64(UInt32.max)] { try check("n", .unsigned(count), .refused(.tooLarge, "n")) }
        try check("vl", .unsigned(0), .refused(.malformedHeader, "vl"))
        for length in [1, 3, maxLength - 1, maxLength] { try check("vl", .unsigned(length), .refused(.sizeMismatch, "frame 2 (values)")) }
        for length in [maxLength + 1, UInt64(UInt32.max)] { try check("vl", .unsigned(length), .refused(.tooLarge, "vl")) }
    }

    @Test("tv: a newer node table is waited for, then refused with staleTable; the refusal uses up the id")
    func tableVersion() throws {
        for version in [0, 1] as [UInt64] { try check("tv", .unsigned(version), .applied) }
        for version in [2, UInt64.max - 1, UInt64.max] { try check("tv", .unsigned(version), .heldThenRefused(.staleTable, "tv")) }
    }

    @Test("cz, org, clk, vc, u, a, r, sg: sizes and ids beyond their bounds are refused before anything is allocated")
    func composites() throws {
        let maxFrame = UInt64(Self.limits.maxFrameBytes)
        try check("cz", .array([.unsigned(maxFrame + 1), .unsigned(0)]), .refused(.tooLarge, "cz[0]"))
        try check("cz", .array([.unsigned(0), .unsigned(UInt64(UInt32.max))]), .refused(.tooLarge, "cz[1]"))
        // Sixteen bytes of keys cannot be Snappy data for a gibibyte.
        try check("cz", .array([.unsigned(maxFrame), .unsigned(0)]), .refused(.unsupportedEncoding, "cz[0]"))
        try check("cz", .array([.unsigned(0), .unsigned(0), .unsigned(0), .unsigned(0)]), .refused(.malformedHeader, "cz"))
        let maxID = UInt64(Self.limits.maxNodeID)
        try check("org", .array([.unsigned(maxID + 1), .unsigned(2), .unsigned(1)]), .refused(.tooLarge, "org[0]"))
        try check("org", .array([.unsigned(1), .unsigned(UInt64(UInt32.max)), .unsigned(1)]), .refused(.tooLarge, "org[1]"))
        try check("org", .array([.unsigned(1), .unsigned(2)]), .refused(.malformedHeader, "org"))
        try check("vc", .array([.unsigned(maxID + 1), .unsigned(0), .unsigned(1), .signed(1)]), .refused(.tooLarge, "vc[0]"))
        try check("vc", .array([.unsigned(1), .unsigned(5), .unsigned(5), .signed(1)]), .refused(.malformedHeader, "vc[1]"))
        try check("vc", .array([.unsigned(1), .unsigned(0), .unsigned(5), .signed(0)]), .refused(.malformedHeader, "vc[3]"))
        try check("vc", .array([.unsigned(1), .unsigned(0), .unsigned(5)]), .refused(.malformedHeader, "vc"))
        let nodes = Self.limits.maxNodes
        try check("clk", .array(Array(repeating: .signed(1), count: nodes + 1)), .refused(.tooLarge, "clk"))
        try check("u", .string(String(repeating: "x", count: Self.limits.maxStringBytes + 1)), .refused(.tooLarge, "u"))
        try check("u", .string("no-such-updater"), .refused(.unknownFunction, "u"))
        try check("a", .array(Array(repeating: .unsigned(1), count: HeaderReader.maxArguments + 1)), .refused(.tooLarge, "a"))
        try check("r", .array([.unsigned(9), .unsigned(8)]), .refused(.malformedHeader, "r"))
        // Segments: pairs, each non-empty, ascending and disjoint (the header's size bounds their number).
        try check("sg", .array([.unsigned(0), .unsigned(8), .unsigned(8), .unsigned(16)]), .applied)
        try check("sg", .array([.unsigned(0), .unsigned(8), .unsigned(16)]), .refused(.malformedHeader, "sg"))
        try check("sg", .array([.unsigned(5), .unsigned(5)]), .refused(.malformedHeader, "sg[0]"))
        try check("sg", .array([.unsigned(8), .unsigned(16), .unsigned(0), .unsigned(4)]), .refused(.malformedHeader, "sg[2]"))
        try check("sg", .array([.unsigned(0), .unsigned(8), .unsigned(4), .unsigned(12)]), .refused(.malformedHeader, "sg[2]"))
    }
}
