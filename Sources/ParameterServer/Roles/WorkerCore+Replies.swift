import Logging
import ZeroMQ

/// The replies of a worker's requests and the slices sent again: merged into their tasks, retried
/// when unanswered, resent with their keys after a key-cache miss, and rerouted when a node table
/// moves their keys to other servers (docs/FAULT-TOLERANCE.md).
extension WorkerCore {
    /// Sends again, with the same id and the `retry` flag, every slice unanswered for a retry interval.
    func resendUnanswered(now: ContinuousClock.Instant) {
        let interval = retryInterval
        for (key, slice) in slices where slice.sentAt + interval < now && !slice.awaitingTable {
            var header = slice.header
            header.flags.insert(.retry)
            slices[key]?.sentAt = now
            retriedSlices += 1
            directives.append(.send(header, payload: slice.payload, to: slice.server.address, onFailure: .logged))
        }
    }

    func handleReply(_ reply: Message, from peer: PeerAddress) {
        let header = reply.header
        guard let sent = slices.removeValue(forKey: SliceKey(server: header.sender, requestID: header.requestID)) else {
            logger.debug("\(name) ignored a reply to unknown request \(header.requestID) from \(peer)")
            return
        }
        let task = sent.task
        let timestamp = task.timestamp
        let index = sent.index
        let server = sent.server
        var message = reply
        do {
            if filters.isActive {
                message = try filters.decodeReply(reply, from: server.id, request: sent.header, limits: settings.limits)
            } else {
                filters.countReceived(reply)
            }
        } catch {
            fail(task, RequestError(code: error.code, peer: server.description, message: "\(error)"))
            return
        }
        if header.errorCode == .keyCacheMiss, sent.header.flags.contains(.keysCached), let plain = sent.plain {
            resendWithKeys(plain, as: sent)
            return
        }
        if header.errorCode == .staleTable {
            // Routed by an older table than the server's: sent again once this worker has that table.
            var waiting = sent
            waiting.awaitingTable = true
            if let table = link.table, table.version >= header.tableVersion ?? .max {
                resend(waiting, key: SliceKey(server: header.sender, requestID: header.requestID), by: table)
            } else {
                slices[SliceKey(server: header.sender, requestID: header.requestID)] = waiting
            }
            return
        }
        switch header.kind {
        case .error:
            fail(task, RequestError(
                code: header.errorCode ?? .internalError, peer: server.description,
                message: header.errorMessage ?? "refused \(task.kind) \(timestamp)"))
            return
        case .pushAck where task.kind == .push, .rangeFunctionAck where task.kind == .rangeFunction:
            break
        case .pullReply where task.kind == .pull:
            guard message.valueCount == Int(sent.header.keyCount) * task.valueLength else {
                fail(task, RequestError(
                    code: .sizeMismatch, peer: server.description,
                    message: "answered pull \(timestamp) with \(message.valueCount) values, expected \(task.sliceParts[index].keyCount * task.valueLength)"))
                return
            }
            if let part = sent.part {
                task.received(values: message.values, clock: header.clock, slice: index, part: part.index, of: part.of, runs: part.runs)
            } else {
                task.received(values: message.values, clock: header.clock, slice: index)
            }
        default:
            fail(task, RequestError(
                code: .invalidRequest, peer: server.description,
                message: "answered \(task.kind) \(timestamp) with a \(header.kind) message"))
            return
        }
        task.remaining -= 1
        if task.remaining == 0 { complete(task) }
    }

    /// Sends every slice in flight to a server the new node table no longer lists (it died and its
    /// ranges moved to their replicas), or that waits for this table, to the servers that now hold
    /// its keys, in issue order. Each goes as a new request under the new server's next id, tagged
    /// with the identity it was first sent under (`org`), so that a push the dead server had
    /// already replicated is acknowledged by its replica without being applied twice.
    func reroute(by table: NodeTable) {
        let servers = Set(table.nodes(withRole: .server).map(\.id))
        let moved = slices.filter { !servers.contains($0.key.server) || $0.value.awaitingTable }
            .sorted { ($0.value.task.timestamp, $0.value.index, $0.key.requestID) < ($1.value.task.timestamp, $1.value.index, $1.key.requestID) }
        for (key, sent) in moved { resend(sent, key: key, by: table) }
    }

    /// Sends `sent` (in flight as `key`) again by `table`, split where its keys now lie on several servers.
    func resend(_ sent: SentSlice, key: SliceKey, by table: NodeTable) {
        slices[key] = nil
        let task = sent.task
        guard tasks[task.timestamp] != nil else { return }
        let plain = sent.plain ?? Message(
            header: sent.header, keys: sent.header.kind == .rangeFunction ? nil : sent.payload.first,
            values: sent.payload.count > 1 ? sent.payload[1] : nil)
        let origin = plain.header.origin ?? RequestOrigin(server: key.server, sender: link.nodeID, requestID: key.requestID)
        var parts: [RequestSlicer.Slice]
        if let range = plain.header.keyRange, plain.header.kind == .rangeFunction {
            parts = slicer.slices(of: range)
        } else {
            let keys = plain.keys.map { frame in frame.withUnsafeBytes { Array($0.bindMemory(to: UInt64.self)) } } ?? []
            let values = plain.values.map { frame in frame.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) } }
            do {
                if plain.header.kind == .push, plain.header.iteration != nil {
                    // Each segment it counted toward goes to the segment's primary now, keys or not.
                    parts = try slicer.slices(
                        keys: keys, values: values, valueLength: task.valueLength,
                        within: plain.header.segments.isEmpty ? [.all] : plain.header.segments, node: name)
                } else {
                    parts = try slicer.slices(keys: keys, values: values, valueLength: task.valueLength, node: name)
                }
            } catch {
                fail(task, error)
                return
            }
        }
        if parts.count > 1, task.kind == .pull, sent.part != nil {
            fail(task, RequestError(
                code: .internalError, peer: name,
                message: "slice \(sent.index) of pull \(task.timestamp) moved twice to several servers"))
            return
        }
        task.remaining += parts.count - 1
        if parts.isEmpty, task.remaining == 0 {
            complete(task)
            return
        }
        logger.info("\(name) sends request \(key.requestID) of \(task.kind) \(task.timestamp) again to \(parts.map(\.server.description).joined(separator: ", ")) (node table version \(table.version))")
        for (index, part) in parts.enumerated() {
            let requestID = takeRequestID(for: part.server.id)
            var header = plain.header
            header.requestID = requestID
            header.flags.remove(.retry)
            header.keyCount = UInt32(part.keyCount)
            header.origin = origin
            header.tableVersion = table.version
            if !part.segments.isEmpty { header.segments = part.segments }
            if header.kind == .rangeFunction { header.keyRange = part.range }
            let request = Message(header: header, keys: header.kind == .rangeFunction ? nil : part.keys, values: part.values)
            var resent = sent
            resent.server = part.server
            resent.sentAt = now
            resent.awaitingTable = false
            resent.part = parts.count > 1 && task.kind == .pull ? (index, parts.count, part.runs) : sent.part
            if filters.isActive {
                let message = filters.encode(request, to: part.server.id, forceKeys: true)
                resent.header = message.header
                resent.payload = message.payloadFrames
                resent.plain = request
            } else {
                resent.header = header
                resent.payload = request.payloadFrames
            }
            slices[SliceKey(server: part.server.id, requestID: requestID)] = resent
            directives.append(.send(resent.header, payload: resent.payload, to: part.server.address, onFailure: .logged))
        }
    }

    /// Sends a slice the server answered with a key-cache miss again, keys included, under the next
    /// request id for that server (the miss is the recorded reply to the old id).
    func resendWithKeys(_ plain: Message, as sent: SentSlice) {
        let requestID = takeRequestID(for: sent.server.id)
        var request = plain
        request.header.requestID = requestID
        let message = filters.encode(request, to: sent.server.id, forceKeys: true)
        var resent = sent
        resent.header = message.header
        resent.payload = message.payloadFrames
        resent.sentAt = now
        resent.plain = request
        slices[SliceKey(server: sent.server.id, requestID: requestID)] = resent
        directives.append(.send(message.header, payload: resent.payload, to: sent.server.address, onFailure: .logged))
    }
}
