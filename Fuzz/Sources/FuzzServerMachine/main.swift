import FuzzSupport
import Logging
import ParameterServer
import ZeroMQ

/// The server machine: a registered server (node 1, keys [0, 2^20), beside worker 2 and client 3)
/// gets the input's frames as a request from a peer, then a tick past the heartbeat timeout. With
/// the fuzz build's allocation limit, a value that sizes a structure without a bound (the 34 GB
/// clock of issue 17) is a finding; so is a request that makes the server stop, or a reply to the
/// peer that is not a valid message.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let frames = FuzzInput(start, count).frames.map { Frame(bytes: $0) }
    guard !frames.isEmpty else { return 0 }
    let server = registeredServer()
    let peer = PeerAddress.routed(Array("peer".utf8))
    let served = server.handle(.received(frames, from: peer), context: at(.milliseconds(2)))
    fuzzCheck(!served.contains { if case .stop = $0 { true } else { false } }, "a request from a peer stopped the server")
    // Past the heartbeat timeout held requests are refused (the server, which hears nothing from
    // the manager here, may stop too: that is not the request's doing).
    for directive in served + server.handle(.tick, context: at(.seconds(4))) {
        switch directive {
        case .stop:
            continue
        case .send(let header, _, let to, _):
            if to == peer { fuzzCheck(header.kind != .nodeTable, "a peer was sent a node table") }
        case .sendFrames(let frames, let to, _):
            guard to == peer else { continue }
            do {
                _ = try MessageCodec.decodeEncoded(frames)
            } catch {
                fatalError("the server sent the peer a message that does not decode: \(error)")
            }
        }
    }
    return 0
}

let start = ContinuousClock.now

func at(_ offset: Duration) -> NodeContext { NodeContext(now: start + offset, localEndpoint: "mem://server-0") }

func registeredServer() -> ServerCore {
    var logger = Logger(label: "zps.fuzz.server")
    logger.logLevel = .critical
    let deadlines = Deadlines(
        startup: .seconds(10), request: .seconds(10), barrier: .seconds(10), shutdown: .seconds(5),
        heartbeatInterval: .milliseconds(500), heartbeatTimeout: .seconds(3), job: .seconds(600))
    let server = ServerCore(
        settings: NodeSettings(
            role: .server, rank: 0, managerEndpoint: "mem://manager", bindEndpoint: "mem://server-0",
            tables: [TableSpec(name: "weights", id: 0, valueLength: 2), TableSpec(name: "samples", id: 1, valueLength: 2)],
            deadlines: deadlines),
        outcome: NodeOutcome(), logger: logger)
    _ = server.handle(.started, context: at(.zero))
    let table = NodeTable(version: 1, nodes: [
        NodeInfo(id: NodeID(1), role: .server, rank: 0, endpoint: "mem://server-0", ranges: [KeyRange(0, 1 << 20)]),
        NodeInfo(id: NodeID(2), role: .worker, rank: 0, endpoint: "mem://worker-0"),
        NodeInfo(id: NodeID(3), role: .client, rank: 0, endpoint: "mem://client-0"),
    ])
    let message = MessageCodec.encode(Message(header: Header(kind: .nodeTable, sender: .manager, requestID: 1, nodeTable: table)))
    _ = server.handle(.received(message, from: .endpoint("mem://manager")), context: at(.milliseconds(1)))
    return server
}
