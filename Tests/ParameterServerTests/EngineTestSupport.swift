import ParameterServer

/// The seeded generator of the randomized engine tests, so that they replay exactly.
typealias SeededGenerator = SplitMix64
