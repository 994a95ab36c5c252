import Testing

@testable import ParameterServer

@Suite("Finished-task watermark")
struct FinishedWatermarkTests {
    @Test("The mark follows the longest run of finished tasks from 1, whatever order they finish in")
    func outOfOrder() {
        var random = SplitMix64(seed: 77)
        for _ in 0..<50 {
            let count = 1 + Int(random.next() % 40)
            var order = Array(1...Int64(count))
            order.shuffle(using: &random)
            let watermark = FinishedWatermark()
            var tracker = FinishedWatermark.Tracker()
            var finished: Set<Int64> = []
            for timestamp in order {
                tracker.finished(timestamp, succeeded: true, watermark: watermark)
                finished.insert(timestamp)
                var expected: Int64 = 0
                while finished.contains(expected + 1) { expected += 1 }
                #expect(watermark.value == expected)
            }
            #expect(watermark.value == Int64(count))
        }
    }

    @Test("A failed task stops the mark below it for good")
    func failureStops() {
        let watermark = FinishedWatermark()
        var tracker = FinishedWatermark.Tracker()
        tracker.finished(1, succeeded: true, watermark: watermark)
        tracker.finished(3, succeeded: true, watermark: watermark)
        #expect(watermark.value == 1)
        tracker.finished(2, succeeded: false, watermark: watermark)
        #expect(watermark.value == 1)
        for timestamp in Int64(4)...10 { tracker.finished(timestamp, succeeded: true, watermark: watermark) }
        #expect(watermark.value == 1)
    }
}
