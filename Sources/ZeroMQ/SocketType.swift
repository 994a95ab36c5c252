import CZeroMQ

/// The messaging pattern a socket takes part in.
public enum SocketType: Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// One-to-one, bidirectional (`ZMQ_PAIR`); mostly for inproc.
    case pair
    /// Fan-out to subscribers (`ZMQ_PUB`).
    case publisher
    /// Receives what publishers send to the subscribed prefixes (`ZMQ_SUB`).
    case subscriber
    /// Strict send-then-receive client (`ZMQ_REQ`).
    case request
    /// Strict receive-then-send server (`ZMQ_REP`).
    case reply
    /// Asynchronous client, round-robin to peers (`ZMQ_DEALER`).
    case dealer
    /// Asynchronous server that prefixes each message with its sender's routing id (`ZMQ_ROUTER`).
    case router
    /// Receiving end of a pipeline (`ZMQ_PULL`).
    case pull
    /// Sending end of a pipeline, round-robin (`ZMQ_PUSH`).
    case push
    /// A publisher that also receives subscriptions as messages (`ZMQ_XPUB`).
    case extendedPublisher
    /// A subscriber that sends subscriptions as messages (`ZMQ_XSUB`).
    case extendedSubscriber
    /// Raw TCP, with a routing-id frame per message (`ZMQ_STREAM`).
    case stream

    /// The libzmq constant.
    var rawValue: Int32 {
        switch self {
        case .pair: ZMQ_PAIR
        case .publisher: ZMQ_PUB
        case .subscriber: ZMQ_SUB
        case .request: ZMQ_REQ
        case .reply: ZMQ_REP
        case .dealer: ZMQ_DEALER
        case .router: ZMQ_ROUTER
        case .pull: ZMQ_PULL
        case .push: ZMQ_PUSH
        case .extendedPublisher: ZMQ_XPUB
        case .extendedSubscriber: ZMQ_XSUB
        case .stream: ZMQ_STREAM
        }
    }

    /// The libzmq name, e.g. `ROUTER`.
    public var description: String {
        switch self {
        case .pair: "PAIR"
        case .publisher: "PUB"
        case .subscriber: "SUB"
        case .request: "REQ"
        case .reply: "REP"
        case .dealer: "DEALER"
        case .router: "ROUTER"
        case .pull: "PULL"
        case .push: "PUSH"
        case .extendedPublisher: "XPUB"
        case .extendedSubscriber: "XSUB"
        case .stream: "STREAM"
        }
    }
}
