/// The server-side guarantee that requests from one sender are applied once each, in issue order.
///
/// Request ids are counted per (sender, receiver) pair: a sender numbers the requests it sends to one
/// server 1, 2, 3, … (or from ``Settings/firstRequestID``). Requests can arrive out of order (a retry
/// overtaking, a re-routed request) and more than once (a retry after a lost reply), so each arrival
/// becomes one ``Directive``:
/// - the next expected id is applied, followed by every buffered id that now continues the sequence;
/// - an id ahead of the sequence is buffered until the gap fills (at most ``Settings/bufferLimit``
///   per sender, beyond which it is refused rather than letting one sender grow memory without end);
/// - an id already applied is answered again from a small cache of recent replies (the last
///   ``Settings/replyWindow`` ids per sender); one older than that is refused, since its reply is gone;
/// - an id ahead of the sequence that the shell refuses outright (it cannot be decoded, or there is
///   no room to hold it) is recorded with its reply by ``refuse(sender:requestID:reply:)``: it uses
///   up its id, so the sequence passes it when the gap before it fills, and a copy of it gets the same
///   reply (at most ``Settings/refusalLimit`` per sender, so that refusals cannot grow memory either).
///
/// A pure state machine, generic over what the shell calls a request and a reply.
public struct RequestDeduplicator<Request: Sendable, Reply: Sendable>: Sendable {
    /// Limits of the deduplicator.
    public struct Settings: Hashable, Sendable {
        /// How many early requests per sender may wait for a gap to fill.
        public var bufferLimit: Int
        /// How many of the most recent applied ids per sender keep their reply for retries.
        public var replyWindow: Int
        /// The id every sender starts counting from.
        public var firstRequestID: UInt64
        /// How many refused ids ahead of the sequence per sender keep their reply until the
        /// sequence reaches them.
        public var refusalLimit: Int

        /// Creates settings; limits below 1 are raised to 1.
        public init(bufferLimit: Int = 1024, replyWindow: Int = 64, firstRequestID: UInt64 = 1, refusalLimit: Int = 1024) {
            self.bufferLimit = max(1, bufferLimit)
            self.replyWindow = max(1, replyWindow)
            self.firstRequestID = firstRequestID
            self.refusalLimit = max(1, refusalLimit)
        }
    }

    /// What the shell does with an arriving request.
    public enum Directive: Sendable {
        /// Apply the request now, then hand its reply to ``recordReply(sender:requestID:reply:)``.
        case apply(sender: NodeID, requestID: UInt64, Request)
        /// The request was applied before: send this reply again and apply nothing.
        case replyAgain(sender: NodeID, requestID: UInt64, Reply)
        /// The request arrived early and is held; it comes back as `.apply` once the gap fills.
        case buffer(sender: NodeID, requestID: UInt64)
        /// A copy of a request that is buffered or being applied; its original's reply answers it.
        case dropDuplicate(sender: NodeID, requestID: UInt64)
        /// The request cannot be served; answer it with ``DeliveryError/wireError``.
        case reject(DeliveryError)
    }

    /// The limits in force.
    public let settings: Settings
    private var senders: [NodeID: SenderState] = [:]

    private struct SenderState: Sendable {
        var nextExpected: UInt64
        var buffered: [UInt64: Request] = [:]
        var replies: [UInt64: Reply] = [:]
        /// Ids ahead of the sequence refused outright, with their replies.
        var refused: [UInt64: Reply] = [:]
    }

    /// Creates a deduplicator that has seen no request.
    public init(settings: Settings = Settings()) {
        self.settings = settings
    }

    /// The id the next in-order request from `sender` must carry.
    public func nextExpected(from sender: NodeID) -> UInt64 {
        senders[sender]?.nextExpected ?? settings.firstRequestID
    }

    /// The number of requests from `sender` held until a gap fills.
    public func bufferedCount(from sender: NodeID) -> Int { senders[sender]?.buffered.count ?? 0 }

    /// The number of ids ahead of `sender`'s sequence refused and waiting for the gap to fill.
    public func refusedCount(from sender: NodeID) -> Int { senders[sender]?.refused.count ?? 0 }

    /// Whether `requestID` of `sender` is ahead of its sequence and held or refused already, so that
    /// an arrival of it is a copy (``receive(sender:requestID:_:)`` drops it or answers it again).
    public func isWaiting(sender: NodeID, requestID: UInt64) -> Bool {
        guard let state = senders[sender] else { return false }
        return state.buffered[requestID] != nil || state.refused[requestID] != nil
    }

    /// Decides what to do with request `requestID` from `sender`.
    public mutating func receive(sender: NodeID, requestID: UInt64, _ request: Request) -> [Directive] {
        // Taken out of the dictionary while it changes, so that its buffers are not copied on write.
        var state = senders.removeValue(forKey: sender) ?? SenderState(nextExpected: settings.firstRequestID)
        defer { senders[sender] = state }

        if requestID < settings.firstRequestID {
            return [.reject(DeliveryError(
                .beforeFirstID, sender: sender, requestID: requestID,
                "request ids start at \(settings.firstRequestID)"))]
        }
        if requestID < state.nextExpected {
            if let reply = state.replies[requestID] {
                return [.replyAgain(sender: sender, requestID: requestID, reply)]
            }
            if requestID >= windowStart(state) {
                return [.dropDuplicate(sender: sender, requestID: requestID)]
            }
            return [.reject(DeliveryError(
                .replyExpired, sender: sender, requestID: requestID,
                "request \(requestID) was applied long ago; replies are kept for the last \(settings.replyWindow) ids and the next expected id is \(state.nextExpected)"))]
        }
        if requestID > state.nextExpected {
            if let reply = state.refused[requestID] {
                return [.replyAgain(sender: sender, requestID: requestID, reply)]
            }
            if state.buffered[requestID] != nil {
                return [.dropDuplicate(sender: sender, requestID: requestID)]
            }
            guard state.buffered.count < settings.bufferLimit else {
                return [.reject(DeliveryError(
                    .bufferFull, sender: sender, requestID: requestID,
                    "\(state.buffered.count) requests are already waiting for request \(state.nextExpected); the limit is \(settings.bufferLimit)"))]
            }
            state.buffered[requestID] = request
            return [.buffer(sender: sender, requestID: requestID)]
        }

        var directives: [Directive] = [.apply(sender: sender, requestID: requestID, request)]
        Self.advance(&state, window: settings.replyWindow)
        while true {
            if let next = state.buffered.removeValue(forKey: state.nextExpected) {
                directives.append(.apply(sender: sender, requestID: state.nextExpected, next))
                Self.advance(&state, window: settings.replyWindow)
            } else if !Self.passRefused(&state, window: settings.replyWindow) {
                return directives
            }
        }
    }

    /// Uses up `requestID` of `sender` without applying anything: `reply` answers it and every
    /// copy of it. An id ahead of the sequence is passed once the ids before it came; the next
    /// expected id, when no later one is held, is passed at once. Returns false, recording nothing,
    /// when the id was passed already, is held or refused already, is the next expected id while
    /// later ones are held, or `sender` has ``Settings/refusalLimit`` refusals waiting; the caller
    /// then answers without using the id up.
    public mutating func refuse(sender: NodeID, requestID: UInt64, reply: Reply) -> Bool {
        guard requestID >= settings.firstRequestID else { return false }
        // Taken out of the dictionary while it changes, so that its caches are not copied on write.
        var state = senders.removeValue(forKey: sender) ?? SenderState(nextExpected: settings.firstRequestID)
        defer { senders[sender] = state }
        if requestID == state.nextExpected {
            return Self.acceptInOrder(&state, requestID: requestID, reply: reply, window: settings.replyWindow)
        }
        guard requestID > state.nextExpected, state.buffered[requestID] == nil, state.refused[requestID] == nil,
            state.refused.count < settings.refusalLimit
        else { return false }
        state.refused[requestID] = reply
        return true
    }

    /// Moves the sequence past a refused id it has reached, keeping its reply for retries; returns
    /// false when the next expected id was not refused.
    private static func passRefused(_ state: inout SenderState, window: Int) -> Bool {
        guard !state.refused.isEmpty, let reply = state.refused.removeValue(forKey: state.nextExpected) else { return false }
        state.replies[state.nextExpected] = reply
        advance(&state, window: window)
        return true
    }

    /// The common case, decided without building directives: when `requestID` is the next id
    /// expected from `sender` and no later request of it is buffered, consumes the id, keeps `reply`
    /// for retries and returns true, exactly as ``receive(sender:requestID:_:)`` returning a single
    /// `.apply` followed by ``recordReply(sender:requestID:reply:)``. Otherwise changes nothing and
    /// returns false; the caller then goes through ``receive(sender:requestID:_:)``.
    public mutating func acceptInOrder(sender: NodeID, requestID: UInt64, reply: Reply) -> Bool {
        guard let index = senders.index(forKey: sender) else { return false }
        // Changed in place through the dictionary's storage: no copy of the sender's caches.
        return Self.acceptInOrder(&senders.values[index], requestID: requestID, reply: reply, window: settings.replyWindow)
    }

    private static func acceptInOrder(_ state: inout SenderState, requestID: UInt64, reply: Reply, window: Int) -> Bool {
        guard requestID == state.nextExpected, state.buffered.isEmpty else { return false }
        state.replies[requestID] = reply
        advance(&state, window: window)
        // Nothing is held, so the refused ids the sequence reaches now need no directive.
        while passRefused(&state, window: window) {}
        return true
    }

    /// Keeps the reply to an applied request for retries. Replies outside the window are not kept.
    public mutating func recordReply(sender: NodeID, requestID: UInt64, reply: Reply) {
        let inWindow = senders[sender].map { requestID < $0.nextExpected && requestID >= windowStart($0) } ?? false
        guard inWindow else { return }
        // Changed in place: a copy of the sender's state would copy its reply cache.
        senders[sender]!.replies[requestID] = reply
    }

    /// Forgets everything about `sender`, e.g. after it restarted and counts from the first id again.
    public mutating func forget(sender: NodeID) {
        senders[sender] = nil
    }

    private func windowStart(_ state: SenderState) -> UInt64 {
        let window = UInt64(settings.replyWindow)
        return max(settings.firstRequestID, state.nextExpected > window ? state.nextExpected - window : 0)
    }

    private static func advance(_ state: inout SenderState, window: Int) {
        state.nextExpected += 1
        // Evicting the one id that just left the window keeps the cache at most `replyWindow` long.
        let window = UInt64(window)
        if state.nextExpected > window {
            state.replies[state.nextExpected - window - 1] = nil
        }
    }
}

extension RequestDeduplicator.Directive: Equatable where Request: Equatable, Reply: Equatable {}
