import Foundation
import Logging
import Testing
import ZeroMQ

@testable import ParameterServer

@Suite("I/O thread scheduling policy")
struct TransportSchedulingTests {
    @Test(arguments: [true, false])
    func theIOThreadRunsUnderTheChosenPolicy(batchScheduling: Bool) async throws {
        let context = try Context()
        var settings = TransportSettings()
        settings.batchScheduling = batchScheduling
        let transport = try ZMQTransport(
            context: context, bind: "tcp://127.0.0.1:*", settings: settings, logger: TransportAffinityTests.logger
        ) {
            TransportAffinityTests.IdleHandler()
        }
        _ = try transport.start()
        let usesBatch: Bool = await withCheckedContinuation { continuation in
            transport.execute { _, _ in continuation.resume(returning: ThreadScheduling.currentThreadUsesBatchPolicy) }
        }
        #expect(usesBatch == batchScheduling)
        transport.stop()
        await transport.waitUntilFinished()
        try context.terminate()
    }

    @Test func aThreadCanBeMovedToTheBatchPolicyAndReportsIt() async {
        let result: (Int32?, Bool) = await withCheckedContinuation { continuation in
            let thread = Thread {
                let before = ThreadScheduling.currentThreadUsesBatchPolicy
                let refused = ThreadScheduling.useBatchPolicyForCurrentThread()
                continuation.resume(returning: (refused, !before && ThreadScheduling.currentThreadUsesBatchPolicy))
            }
            thread.start()
        }
        #expect(result.0 == nil)
        #expect(result.1)
    }
}
