import Logging
import ZeroMQ

/// `bsp` tables on a server (docs/CONSISTENCY.md): pushes summed per iteration, pulls held until
/// their iteration is applied.
extension ServerCore {
    /// A push to a `bsp` table: added to its iteration's sum and acknowledged; the sum reaches the
    /// stores once every worker pushed the iteration.
    func aggregate(_ message: Message, table: Table, slices: [ServedTable.Slice]) throws -> Message {
        let header = message.header
        guard let iteration = header.iteration else {
            throw WireError(.missingField, field: "it", "a push to the bsp table '\(table.spec.name)' names its iteration")
        }
        if let name = header.updater, name != table.updater.name {
            throw WireError(
                .invalidRequest, field: "u",
                "the bsp table '\(table.spec.name)' applies each iteration's sum with its own updater '\(table.updater.name)'")
        }
        let held = ServedTable.HeldPush(sender: header.sender, timestamp: header.timestamp, spans: slices.map(\.clockSpan))
        var acknowledged: Message?
        for directive in table.aggregator!.push(from: header.sender, iteration: iteration, held) {
            switch directive {
            case .accumulate(let iteration, _, let push):
                table.accumulate(message, iteration: iteration, push: push)
                acknowledged = acknowledgement(of: header)
            case .rejectPush(_, let error):
                throw error.wireError
            default:
                perform([directive], table: table)
            }
        }
        return acknowledged ?? acknowledgement(of: header)
    }

    /// Performs the aggregator's directives that apply sums and answer held pulls.
    func perform(_ aggregatorDirectives: [BSPAggregator<ServedTable.HeldPush, ServedTable.HeldPull>.Directive], table: Table) {
        for directive in aggregatorDirectives {
            switch directive {
            case .applyAggregate(let iteration):
                table.applyAggregate(iteration: iteration)
            case .servePull(_, let held):
                heldRequests.release(.sender(held.message.header.sender), bytes: held.message.payloadFrames.reduce(0) { $0 + $1.count })
                if let reply = answerHeld(held, table: table).map({ filters.encode($0, answering: held.message.header) }) {
                    send(reply, to: held.peer)
                    if orderedSenders.contains(held.message.header.sender) {
                        deduplicator.recordReply(sender: held.message.header.sender, requestID: held.message.header.requestID, reply: .readAgain)
                    }
                }
            case .accumulate, .rejectPush:
                break
            }
        }
    }

    /// The reply to a pull the aggregator lets through at once, or `nil` when it holds it.
    func serveHeld(
        _ aggregatorDirectives: [BSPAggregator<ServedTable.HeldPush, ServedTable.HeldPull>.Directive], table: Table
    ) -> Message? {
        guard case .servePull(_, let held)? = aggregatorDirectives.first, aggregatorDirectives.count == 1 else {
            perform(aggregatorDirectives, table: table)
            return nil
        }
        return answerHeld(held, table: table)
    }

    func answerHeld(_ held: ServedTable.HeldPull, table: Table) -> Message? {
        do {
            return pull(held.message, table: table, slices: try table.slices(of: held.message))
        } catch let error as WireError {
            return errorMessage(error, to: held.message.header, peer: held.peer)
        } catch {
            return errorMessage(WireError(.internalError, field: "k", "\(error)"), to: held.message.header, peer: held.peer)
        }
    }
}
