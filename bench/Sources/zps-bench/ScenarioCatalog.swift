/// Every scenario zps-bench knows; `all` on the command line runs those of ``all`` in this order.
enum ScenarioCatalog {
    static let all: [any Scenario] = [
        PushPullScenario(),
        LargeValueScenario(),
        ApplyLoopScenario(),
        HeaderCodecScenario(),
        FilterScenario(),
        ConsistencyScenario(),
        ReaderScenario(),
    ]

    /// Scenarios run only when named: they start processes of their own and take minutes.
    static let byNameOnly: [any Scenario] = [
        FailoverScenario(),
        CostScenario(),
        CurveScenario(),
    ]

    /// Every scenario, for `list` and the help.
    static var everyScenario: [any Scenario] { all + byNameOnly }

    /// The scenario called `name`, or nil.
    static func scenario(named name: String) -> (any Scenario)? {
        everyScenario.first { $0.name == name }
    }
}
