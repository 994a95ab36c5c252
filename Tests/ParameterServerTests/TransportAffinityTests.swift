import Foundation
import Logging
import Testing
import ZeroMQ

@testable import ParameterServer

@Suite("Keeping I/O threads on a CPU")
struct TransportAffinityTests {
    /// A handler with nothing to do: the tests only run work on its thread.
    final class IdleHandler: TransportHandler {
        func start(io: any TransportIO) {}
        func received(_ frames: [Frame], from peer: PeerAddress, io: any TransportIO) {}
        func tick(io: any TransportIO) {}
        func stopped(error: (any Error)?) {}
    }

    static let logger = Logger(label: "affinity-test") { _ in SwiftLogNoOpLogHandler() }

    @Test func aThreadStaysOnTheCPUItWasPinnedTo() async throws {
        let cpu = ThreadAffinity.onlineCPUs - 1
        let seen: Int? = await withCheckedContinuation { continuation in
            let thread = Thread {
                do {
                    try ThreadAffinity.pinCurrentThread(to: cpu)
                    continuation.resume(returning: ThreadAffinity.currentThreadCPU)
                } catch {
                    continuation.resume(returning: nil)
                }
            }
            thread.start()
        }
        #expect(seen == cpu)
    }

    @Test func aCPUTheHostLacksIsRefusedByNumber() {
        let missing = ThreadAffinity.onlineCPUs + 64
        #expect {
            try ThreadAffinity.pinCurrentThread(to: missing)
        } throws: { error in
            (error as? ThreadAffinityError)?.description
                == "CPU \(missing) is not available on this host (it has CPUs 0-\(ThreadAffinity.onlineCPUs - 1))"
        }
        #expect(throws: ThreadAffinityError.self) { try ThreadAffinity.pinCurrentThread(to: -1) }
    }

    @Test func theTransportRunsItsHandlerOnItsCPU() async throws {
        let context = try Context()
        var settings = TransportSettings()
        settings.cpu = 0
        let transport = try ZMQTransport(context: context, bind: "tcp://127.0.0.1:*", settings: settings, logger: Self.logger) {
            IdleHandler()
        }
        _ = try transport.start()
        let cpu: Int? = await withCheckedContinuation { continuation in
            transport.execute { _, _ in continuation.resume(returning: ThreadAffinity.currentThreadCPU) }
        }
        #expect(cpu == 0)
        transport.stop()
        await transport.waitUntilFinished()
        try context.terminate()
    }

    @Test func aTransportOnAMissingCPUDoesNotStart() throws {
        let context = try Context()
        var settings = TransportSettings()
        settings.cpu = ThreadAffinity.onlineCPUs + 64
        let transport = try ZMQTransport(context: context, bind: "tcp://127.0.0.1:*", settings: settings, logger: Self.logger) {
            IdleHandler()
        }
        #expect(throws: ThreadAffinityError.self) { _ = try transport.start() }
        #expect(transport.isFinished)
        try context.terminate()
    }
}
