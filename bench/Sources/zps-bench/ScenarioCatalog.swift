/// Every scenario zps-bench knows; `all` on the command line runs them in this order.
enum ScenarioCatalog {
    static let all: [any Scenario] = [
        PushPullScenario(),
        LargeValueScenario(),
        ApplyLoopScenario(),
        FilterScenario(),
        ConsistencyScenario(),
        ReaderScenario(),
    ]

    /// The scenario called `name`, or nil.
    static func scenario(named name: String) -> (any Scenario)? {
        all.first { $0.name == name }
    }
}
