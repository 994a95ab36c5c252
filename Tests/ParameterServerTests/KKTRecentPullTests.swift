import Testing
import ZeroMQ

@testable import ParameterServer

@Suite("Filters: KKT against the pull of the pushed minibatch")
struct KKTRecentPullTests {
    @Test("A push is checked against the pull of its own key list, though later pulls (prefetches) came since")
    func pushMatchesItsOwnPull() {
        var filter = KKTFilter(lambda: 0.5, valueLength: 1)
        filter.observe(keys: [1, 2, 3], weights: [0, 0.75, 0])
        filter.observe(keys: [1, 2, 3, 4], weights: [1, 1, 1, 0])
        filter.observe(keys: [5, 6], weights: [1, 1])
        // Against the first pull: 1 and 3 are zero and small → held; 2 is non-zero → sent.
        let own = filter.filter(FilterValueTests.push([1, 2, 3], [0.25, 0.25, -0.5]))
        #expect(KeyFrame(own.keys!).elements == [2])
        // No pull of [1, 2, 4]: the latest pull ([5, 6]) covers none of them, so all are sent, key 1
        // with the gradient held for it.
        let other = filter.filter(FilterValueTests.push([1, 2, 4], [0.25, 0.25, 0.25]))
        #expect(KeyFrame(other.keys!).elements == [1, 2, 4])
        #expect(ValueFrame(other.values!).elements == [0.5, 0.25, 0.25])
        #expect(filter.pendingKeyCount == 1)
    }

    @Test("Only the last recentPulls pulls are remembered")
    func oldPullsAreForgotten() {
        var filter = KKTFilter(lambda: 0.5, valueLength: 1)
        filter.observe(keys: [1, 2], weights: [0, 0])
        for index in 0..<KKTFilter.recentPulls { filter.observe(keys: [100 + UInt64(index)], weights: [0]) }
        let push = filter.filter(FilterValueTests.push([1, 2], [0.25, 0.25]))
        #expect(KeyFrame(push.keys!).elements == [1, 2])
    }
}
