import Logging
import ZeroMQ

/// The request path of a server: every push, pull and range function is decoded, admitted,
/// ordered per sender and served here, and answered (with an error reply when it fails).
extension ServerCore {
    // MARK: - Data requests

    /// Every request takes this one path: decoded through the filters; admitted once its node
    /// table and its sender are known here (held until then); put in its sender's order by the
    /// deduplicator; served by ``answer(_:from:)``; its reply sent and kept for retries. A
    /// request that is next in its sender's order, the usual case, goes through the deduplicator
    /// without buffering or directives.
    func serve(_ frames: [Frame], from peer: PeerAddress) {
        let decoded = Result { () throws(WireError) in try filters.decode(frames, limits: link.settings.limits) }
        let header: Header?
        switch decoded {
        case .success(let message): header = message.header
        case .failure: header = frames.first.flatMap { try? HeaderCodec.decode($0, limits: link.settings.limits) }
        }
        if let header, Self.isDataRequest(header.kind) || header.kind == .replicate, let version = header.tableVersion,
            version > tableVersion
        {
            return holdUntilTable(frames, from: peer, header: header, version: version)
        }
        if let header, Self.isDataRequest(header.kind), header.sender != .unassigned,
            !knownSenders.contains(header.sender)
        {
            return holdUntilListed(frames, from: peer, sender: header.sender)
        }
        // A header that is refused still names its sender and request id, as far as they decode;
        // without a usable id it is refused with its own error, outside the sender's order.
        let identity = header ?? frames.first.flatMap { HeaderCodec.identity(of: $0, limits: link.settings.limits) }
        if let identity, !isFromSendersConnection(identity, frames: frames, peer: peer) { return }
        guard let identity, isOrdered(identity), header != nil || identity.requestID >= deduplicator.settings.firstRequestID
        else {
            switch decoded {
            case .success(let message):
                if let reply = answer(message, from: peer) { send(reply, to: peer) }
            case .failure(let error):
                reject(frames, from: peer, error)
            }
            return
        }
        order(decoded, header: identity, peer: peer)
    }

    /// Puts a request of an ordered sender in its sender's order. It uses up its id even when it
    /// cannot be decoded or served, or the sender's later requests would wait for it forever.
    func order(_ request: Result<Message, WireError>, header: Header, peer: PeerAddress) {
        if deduplicator.acceptInOrder(sender: header.sender, requestID: header.requestID, reply: .pending) {
            serveInOrder(request, header: header, peer: peer)
        } else {
            deliver(Incoming(header: header, request: request, peer: peer))
        }
    }

    /// Refuses a request that was held (for a node table, or for want of room) with `error`: in
    /// its sender's order when the sender is ordered, so that it uses up its id like any failed
    /// request; with a plain error reply otherwise.
    func refuse(_ frames: [Frame], from peer: PeerAddress, _ error: WireError) {
        guard let header = frames.first.flatMap({ HeaderCodec.identity(of: $0, limits: link.settings.limits) }),
            isOrdered(header), header.requestID >= deduplicator.settings.firstRequestID
        else {
            return reject(frames, from: peer, error)
        }
        order(.failure(error), header: header, peer: peer)
    }

    /// Serves a request its sender's order lets through now, and keeps its reply for retries (a
    /// held reply is kept when it is sent).
    func serveInOrder(_ request: Result<Message, WireError>, header: Header, peer: PeerAddress) {
        let reply: Message?
        switch request {
        case .success(let message) where skipsDroppedReply(message, to: peer):
            // A retry reads again and is answered, once the peer has room.
            deduplicator.recordReply(sender: header.sender, requestID: header.requestID, reply: .readAgain)
            return
        case .success(let message): reply = answer(message, from: peer)
        case .failure(let error): reply = errorMessage(error, to: header, peer: peer)
        }
        guard let reply else { return }
        send(reply, to: peer)
        deduplicator.recordReply(sender: header.sender, requestID: header.requestID, reply: kept(reply))
    }

    func isOrdered(_ header: Header) -> Bool {
        Self.isDataRequest(header.kind) && orderedSenders.contains(header.sender)
    }

    /// The requests that are ordered per sender: they read or change the stores.
    static func isDataRequest(_ kind: MessageKind) -> Bool {
        kind == .push || kind == .pull || kind == .rangeFunction
    }

    /// Passes a request of an ordered sender through the deduplicator and performs what it says.
    /// A request ahead of its sender's order that fails to decode, or that there is no room to
    /// hold, is answered at once and uses up its id (``refuseAhead(_:_:)``).
    func deliver(_ incoming: Incoming) {
        let header = incoming.header
        if header.requestID > deduplicator.nextExpected(from: header.sender),
            !deduplicator.isWaiting(sender: header.sender, requestID: header.requestID)
        {
            if case .failure(let error) = incoming.request { return refuseAhead(incoming, error) }
            if let error = admitAhead(incoming) { return refuseAhead(incoming, error) }
        }
        for directive in deduplicator.receive(sender: header.sender, requestID: header.requestID, incoming) {
            switch directive {
            case .apply(_, let requestID, let request):
                if requestID != header.requestID { releaseAhead(request) }
                serveInOrder(request.request, header: request.header, peer: request.peer)
            case .replyAgain(_, _, .message(let reply)):
                send(reply, to: incoming.peer)
            case .replyAgain(_, _, .acknowledged):
                send(acknowledgement(of: header), to: incoming.peer)
            case .replyAgain(_, _, .readAgain):
                switch incoming.request {
                case .success(let message) where skipsDroppedReply(message, to: incoming.peer):
                    break
                case .success(let message):
                    if let reply = answer(message, from: incoming.peer) { send(reply, to: incoming.peer) }
                case .failure(let error):
                    // E.g. a retried pull whose cached key list was evicted since: the sender resends its keys.
                    reply(error, to: header, peer: incoming.peer)
                }
            case .buffer:
                holdAhead(incoming)
            case .dropDuplicate, .replyAgain(_, _, .pending):
                break
            case .reject(let error) where error.code == .bufferFull:
                refuseAhead(incoming, error.wireError)
            case .reject(let error):
                reply(error.wireError, to: header, peer: incoming.peer)
            }
        }
    }

    /// Answers `incoming`, ahead of its sender's order, with `error`, and uses up its id: the
    /// sender's later requests do not wait for it, and a copy of it gets the same reply
    /// (docs/PROTOCOL.md section 8.1). Beyond the deduplicator's limit of such refusals per
    /// sender the id stays unused.
    func refuseAhead(_ incoming: Incoming, _ error: WireError) {
        let reply = errorMessage(error, to: incoming.header, peer: incoming.peer)
        _ = deduplicator.refuse(sender: incoming.header.sender, requestID: incoming.header.requestID, reply: .message(reply))
        send(reply, to: incoming.peer)
    }

    func kept(_ reply: Message) -> KeptReply {
        switch reply.header.kind {
        case .pullReply: return .readAgain
        case .pushAck where reply.header.keyCacheHash == nil && reply.header.compressedSizes == nil: return .acknowledged
        default: return .message(reply)
        }
    }

    /// Sends `reply` to `peer`; a failed send is logged (the sender's retry asks again).
    func send(_ reply: Message, to peer: PeerAddress) {
        directives.append(.send(reply.header, payload: reply.payloadFrames, to: peer, onFailure: .logged))
    }

    /// Serves a decoded request: its reply (an error reply if it fails), or `nil` for a BSP pull held
    /// until its iteration is complete.
    func answer(_ message: Message, from peer: PeerAddress) -> Message? {
        do {
            return try handle(message, from: peer).map { filters.encode($0, answering: message.header) }
        } catch let error as WireError {
            if error.code == .keyOutOfRange, let routedBy = message.header.tableVersion, let current = link.table?.version,
                routedBy < current
            {
                // Routed by an older table: the sender sends it again by this server's table.
                var reply = errorMessage(
                    WireError(.staleTable, field: "tv", "routed by node table version \(routedBy), this server has \(current): \(error.detail)"),
                    to: message.header, peer: peer)
                reply.header.tableVersion = current
                return reply
            }
            var reply = errorMessage(error, to: message.header, peer: peer)
            // A segment being drained for a join: served again from the next table on.
            if error.code == .staleTable { reply.header.tableVersion = tableVersion + 1 }
            return reply
        } catch let error as StorageError {
            return errorMessage(WireError(error.code, field: "u", error.message), to: message.header, peer: peer)
        } catch {
            return errorMessage(WireError(.internalError, field: "k", "\(error)"), to: message.header, peer: peer)
        }
    }

    func handle(_ message: Message, from peer: PeerAddress) throws -> Message? {
        let header = message.header
        if shuttingDown { throw WireError(.shuttingDown, field: "k", "the server is shutting down") }
        if try isLeftFromAbandonedJoin(header) { return nil }
        switch header.kind {
        case .push, .pull:
            guard let table = tables[header.table] else {
                throw WireError(.unknownTable, field: "t", "no table with id \(header.table); tables: \(tables.keys.sorted())")
            }
            guard Int(header.valueLength) == table.spec.valueLength else {
                throw WireError(
                    .sizeMismatch, field: "vl",
                    "table '\(table.spec.name)' holds \(table.spec.valueLength) floats per key, the request says \(header.valueLength)")
            }
            if header.flags.contains(.rangeRequest) {
                guard header.kind == .pull, let range = header.keyRange else {
                    throw WireError(.invalidRequest, field: "f", "only a pull may name a key range instead of keys")
                }
                try requireRegistered(header)
                return try pullRange(range, message: message, table: table)
            }
            let slices = try table.slices(of: message)
            try requireRegistered(header)
            try refuseIfDraining(slices, table: table)
            if header.kind == .push {
                if table.isBSP { return try aggregate(message, table: table, slices: slices, from: peer) }
                return try push(message, table: table, slices: slices, from: peer)
            }
            if table.isBSP, let iteration = header.iteration {
                return try pullIteration(message, iteration: iteration, table: table, slices: slices, from: peer)
            }
            return pull(message, table: table, slices: slices)
        case .rangeFunction:
            guard let table = tables[header.table] else {
                throw WireError(.unknownTable, field: "t", "no table with id \(header.table); tables: \(tables.keys.sorted())")
            }
            try requireRegistered(header)
            return try applyFunction(message, table: table, from: peer)
        case .replicate:
            try writeReplicate(message)
            return nil
        case .replicateAck:
            acknowledgedReplicate(header)
            return nil
        case .heartbeat:
            return Message(header: Header(kind: .heartbeat, sender: link.nodeID, requestID: header.requestID))
        case .error:
            // Never answer an error with an error: two confused peers would ping-pong forever.
            logger.error("\(link.settings.name) got an error from \(peer): \(header.errorMessage ?? "no message")")
            return nil
        default:
            throw WireError(.unknownKind, field: "k", "a server does not accept \(header.kind) messages")
        }
    }

    /// A data request of a sender that has not registered (``NodeID/unassigned``) is refused once it
    /// is otherwise valid: it has no place in the senders' order nor in the vector clocks.
    func requireRegistered(_ header: Header) throws(WireError) {
        guard header.sender != .unassigned else {
            throw WireError(.notRegistered, field: "s", "a \(header.kind) needs a registered sender; register with the manager first")
        }
    }

    func updater(named name: String?, table: Table) throws -> any Updater {
        guard let name, name != table.updater.name else { return table.updater }
        if let cached = updaterCache[name] { return cached }
        let made = try registry.make(name)
        updaterCache[name] = made
        return made
    }

    /// Applies a push and answers it, or, where its ranges have replicas, forwards its results down
    /// their chains and holds the answer until every replica has them (`nil`). A push sent again
    /// after a fail-over is applied only to the ranges whose result of it this server does not hold
    /// yet, and acknowledged without applying anything when it holds them all.
    func push(
        _ message: Message, table: Table, slices all: [ServedTable.Slice], from peer: PeerAddress
    ) throws -> Message? {
        let header = message.header
        var slices = all
        if let origin = header.origin {
            slices.removeAll { appliedOrigins.contains(origin, table: table.spec.id, range: table.stores[$0.store].range) }
        }
        // A push sent again whose result this server holds for some of its ranges: that result may
        // still be on its way down their chains, so the reply waits for what went before it.
        let heldAlready = slices.count < all.count && replication.hasSuccessors
        if !slices.isEmpty || all.isEmpty { try table.apply(message, slices: slices, updater: updater(named: header.updater, table: table)) }
        let reply = acknowledgement(of: header)
        // Without replicas (the usual case) nothing more to do, and no array to build.
        guard replication.hasSuccessors else { return reply }
        let replicated = slices.filter { replication.successor(for: table.stores[$0.store].range) != nil }
        guard !replicated.isEmpty || heldAlready, let keys = message.keys else { return reply }
        let origin = header.origin ?? RequestOrigin(server: link.nodeID, sender: header.sender, requestID: header.requestID)
        for slice in replicated {
            // The range's copies, and a full copy made later, record the push too.
            appliedOrigins.insert(origin, table: table.spec.id, range: table.stores[slice.store].range)
            batch.add(
                table: table.spec.id, range: table.stores[slice.store].range, keys: keys, at: slice.keys, origin: origin,
                clock: table.clockRecord(of: header, span: slice.span))
        }
        replication.hold(ChainReplication.HeldReply(
            reply: filters.encode(reply, answering: header), peer: peer, sender: header.sender, requestID: header.requestID,
            behindSent: heldAlready))
        flushReplicationIfFull()
        return nil
    }

    func acknowledgement(of header: Header) -> Message {
        var reply = Header(
            kind: .pushAck, sender: link.nodeID, requestID: header.requestID, table: header.table,
            timestamp: header.timestamp, keyCount: header.keyCount, valueLength: header.valueLength)
        reply.iteration = header.iteration
        return Message(header: reply)
    }

    func pull(_ message: Message, table: Table, slices: [ServedTable.Slice]) -> Message {
        let values = table.read(message, slices: slices)
        let header = message.header
        var reply = Header(
            kind: .pullReply, sender: link.nodeID, requestID: header.requestID, table: header.table,
            timestamp: header.timestamp, keyCount: header.keyCount, valueLength: header.valueLength)
        reply.iteration = header.iteration
        if header.flags.contains(.wantClock) { reply.clock = table.clock(of: slices.map(\.clockSpan)) }
        return Message(header: reply, values: values)
    }

    /// Every stored key of `range` and its values (all keys when the store is dense).
    func pullRange(_ range: KeyRange, message: Message, table: Table) throws -> Message {
        guard table.stores.contains(where: { $0.range.contains(range) }) || range.isEmpty else {
            let owned = table.stores.map(\.range.description).joined(separator: ", ")
            throw WireError(.keyOutOfRange, field: "r", "range \(range) is not inside one of this server's ranges \(owned)")
        }
        try refuseIfDraining(range)
        let (keys, values, spans) = table.snapshot(of: range)
        guard keys.count <= link.settings.limits.maxKeysPerMessage else {
            throw WireError(
                .tooLarge, field: "r",
                "range \(range) holds \(keys.count) keys, more than \(link.settings.limits.maxKeysPerMessage) per message; pull smaller ranges")
        }
        let header = message.header
        var reply = Header(
            kind: .pullReply, sender: link.nodeID, requestID: header.requestID, table: header.table,
            timestamp: header.timestamp, keyRange: range, flags: .rangeRequest, keyCount: UInt32(keys.count),
            valueLength: header.valueLength)
        if header.flags.contains(.wantClock), !spans.isEmpty { reply.clock = table.clock(of: spans) }
        return Message(header: reply, keys: Frame(array: keys), values: Frame(array: values))
    }

    /// Runs a range function on the part of `r` this server holds (docs/PROTOCOL.md section 14) and
    /// answers it; where its ranges have replicas, its results go down their chains first, as a
    /// push's do (`nil`: the answer waits for them). A call sent again after a fail-over runs only
    /// on the ranges whose result of it this server does not hold yet.
    func applyFunction(_ message: Message, table: Table, from peer: PeerAddress) throws -> Message? {
        let header = message.header
        guard let range = header.keyRange else {
            throw WireError(.missingField, field: "r", "a rangeFunction request names its key range")
        }
        guard let name = header.updater else {
            throw WireError(.missingField, field: "u", "a rangeFunction request names its function")
        }
        guard table.stores.contains(where: { $0.range.contains(range) }) || range.isEmpty else {
            let owned = table.stores.map(\.range.description).joined(separator: ", ")
            throw WireError(.keyOutOfRange, field: "r", "range \(range) is not inside one of this server's ranges \(owned)")
        }
        try refuseIfDraining(range)
        let function = try functions.make(name, arguments: header.arguments ?? [])
        let covering = table.stores(covering: range)
        var applied = covering
        if let origin = header.origin {
            applied.removeAll { appliedOrigins.contains(origin, table: table.spec.id, range: table.stores[$0].range) }
        }
        let touched = table.apply(function, on: range, only: applied, sender: header.sender, timestamp: header.timestamp)
        let reply = Message(header: Header(
            kind: .rangeFunctionAck, sender: link.nodeID, requestID: header.requestID, table: header.table,
            timestamp: header.timestamp, keyCount: UInt32(clamping: touched)))
        guard replication.hasSuccessors else { return reply }
        // As for a push: a result held already may still be on its way down the chain.
        let heldAlready = applied.count < covering.count
        let replicated = applied.filter { replication.successor(for: table.stores[$0].range) != nil }
        guard !replicated.isEmpty || heldAlready else { return reply }
        let origin = header.origin ?? RequestOrigin(server: link.nodeID, sender: header.sender, requestID: header.requestID)
        for index in replicated {
            let store = table.stores[index]
            let covered = range.intersection(store.range)
            appliedOrigins.insert(origin, table: table.spec.id, range: store.range)
            // Every stored key of the range changed (every key of a dense store); where it holds
            // none, nothing changed.
            let keys = store.storedKeys(in: covered)
            guard !keys.isEmpty else { continue }
            batch.add(
                table: table.spec.id, range: store.range, keys: Frame(array: keys), at: 0..<keys.count, origin: origin,
                clock: table.clockRecord(of: header, span: covered))
        }
        replication.hold(ChainReplication.HeldReply(
            reply: reply, peer: peer, sender: header.sender, requestID: header.requestID, behindSent: heldAlready))
        flushReplicationIfFull()
        return nil
    }

    // MARK: - Errors

    func reject(_ frames: [Frame], from peer: PeerAddress, _ error: any Error) {
        let wireError = error as? WireError ?? WireError(.malformedFrame, field: "message", "\(error)")
        // Echo the request id whenever it can be read, so the sender can match the error.
        let header = frames.first.flatMap { HeaderCodec.identity(of: $0, limits: link.settings.limits) }
            ?? Header(kind: .error)
        reply(wireError, to: header, peer: peer)
    }

    func reply(_ error: WireError, to header: Header, peer: PeerAddress) {
        send(errorMessage(error, to: header, peer: peer), to: peer)
    }

    /// The error reply to `header`'s request; counted and logged.
    func errorMessage(_ error: WireError, to header: Header, peer: PeerAddress) -> Message {
        rejectedRequests += 1
        logger.warning("\(link.settings.name) rejected a request from \(peer): \(error)")
        return Message(header: header.errorReply(from: link.nodeID, error))
    }
}
