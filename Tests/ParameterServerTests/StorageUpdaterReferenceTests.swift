import Testing

@testable import ParameterServer

/// Every built-in updater, made by the registry from its option names, applied by a ``RangeStore`` in
/// both layouts and compared with the published formulas (``UpdaterReference``), value by value.
@Suite("Updaters in a RangeStore against their published formulas")
struct StorageUpdaterReferenceTests {
    /// Where the store's range starts: not 0, so a store that forgets to subtract it fails.
    static let base: UInt64 = 1000
    static let range = KeyRange(base, base + 64)

    enum Layout: String, CaseIterable, Sendable { case dense, sorted }

    static func makeStore(_ layout: Layout, valueLength: Int, updater: any Updater) -> RangeStore {
        let store = RangeStore(
            range: range, valueLength: valueLength, updater: updater,
            denseLimit: layout == .dense ? RangeStore.defaultDenseLimit : 0)
        precondition(store.isDense == (layout == .dense))
        return store
    }

    static func push(_ push: UpdaterReference.Push, into store: RangeStore, updater: any Updater) {
        push.keys.withUnsafeBytes { keys in
            push.values.withUnsafeBytes { values in
                store.push(keys: keys.baseAddress!, count: push.keys.count, values: values.baseAddress!, updater: updater)
            }
        }
    }

    static func pull(_ keys: [UInt64], from store: RangeStore) -> [Float] {
        var output = [Float](repeating: .nan, count: keys.count * store.valueLength)
        keys.withUnsafeBytes { keyBytes in
            output.withUnsafeMutableBytes { output in
                store.pull(keys: keyBytes.baseAddress!, count: keys.count, into: output.baseAddress!)
            }
        }
        return output
    }

    /// Every key of the range, so the test also sees that keys never pushed stay 0.
    static let allKeys = Array(range.lowerBound..<range.upperBound)

    static let cases: [(UpdaterReference.Rule, Layout, Int)] = UpdaterReference.rules.flatMap { rule in
        Layout.allCases.flatMap { layout in [1, 3].map { (rule, layout, $0) } }
    }

    @Test("successive pushes give the formula's values", arguments: cases)
    func matchesFormula(rule: UpdaterReference.Rule, layout: Layout, valueLength: Int) throws {
        let updater = try UpdaterRegistry.builtIn.make(rule.name, options: UpdaterOptions(rule.options))
        let store = Self.makeStore(layout, valueLength: valueLength, updater: updater)
        let pushes = UpdaterReference.pushes(base: Self.base, valueLength: valueLength)
        for (index, push) in pushes.enumerated() {
            Self.push(push, into: store, updater: updater)
            // After every push, not only the last: a wrong intermediate state could cancel out.
            let expected = UpdaterReference.expectedValues(
                of: Array(pushes[...index]), valueLength: valueLength, rule: rule, keys: Self.allKeys)
            let actual = Self.pull(Self.allKeys, from: store)
            #expect(actual == expected, "after push \(index + 1): \(Self.differences(actual, expected, valueLength: valueLength))")
        }
        let final = Self.pull(Self.allKeys, from: store)
        // The scenario is not degenerate: values moved, and FTRL both zeroed some weights by L1 and kept others.
        #expect(final.contains { $0 != 0 })
        if rule.name == "ftrl" {
            let touched = Set(UpdaterReference.keyOffsets.joined()).map { Int($0) * valueLength }
            #expect(touched.contains { final[$0] == 0 } && touched.contains { final[$0] != 0 })
        }
        #expect(store.storedKeyCount == (layout == .dense ? 64 : Set(UpdaterReference.keyOffsets.joined()).count))
        let snapshot = store.snapshot(of: Self.range)
        #expect(snapshot.values == Self.pull(snapshot.keys, from: store))
    }

    @Test("a push may name a stateless updater other than the table's; it changes only the values",
          arguments: Layout.allCases, [1, 3])
    func pushNamesItsUpdater(layout: Layout, valueLength: Int) throws {
        let sgd = UpdaterReference.Rule(name: "sgd", options: ["learning_rate": 0.35, "l2": 0.6])
        let tableUpdater = try UpdaterRegistry.builtIn.make("sgd", options: UpdaterOptions(sgd.options))
        let store = Self.makeStore(layout, valueLength: valueLength, updater: tableUpdater)
        // Push by push: the table's sgd, then assign, add, sgd, add, sgd.
        let names = ["sgd", "assign", "add", "sgd", "add", "sgd"]
        var coordinates: [UInt64: [UpdaterReference.Coordinate]] = [:]
        for (push, name) in zip(UpdaterReference.pushes(base: Self.base, valueLength: valueLength), names) {
            let rule = name == "sgd" ? sgd : UpdaterReference.Rule(name: name, options: [:])
            let updater = name == "sgd" ? tableUpdater : try UpdaterRegistry.builtIn.make(name)
            try store.check(updater: updater)
            Self.push(push, into: store, updater: updater)
            for (index, key) in push.keys.enumerated() {
                var vector = coordinates[key] ?? Array(repeating: UpdaterReference.Coordinate(), count: valueLength)
                for component in 0..<valueLength { rule.step(&vector[component], push.values[index * valueLength + component]) }
                coordinates[key] = vector
            }
        }
        let expected = Self.allKeys.flatMap { key in
            (coordinates[key] ?? Array(repeating: UpdaterReference.Coordinate(), count: valueLength)).map(\.w)
        }
        #expect(Self.pull(Self.allKeys, from: store) == expected)
    }

    @Test("an updater with its own state cannot be applied to a table kept by another")
    func statefulUpdaterMustBeTheTables() throws {
        let store = Self.makeStore(.sorted, valueLength: 1, updater: try UpdaterRegistry.builtIn.make("adagrad"))
        #expect(throws: StorageError.self) { try store.check(updater: try UpdaterRegistry.builtIn.make("ftrl")) }
        try store.check(updater: try UpdaterRegistry.builtIn.make("adagrad"))
        try store.check(updater: try UpdaterRegistry.builtIn.make("add"))
        let add = Self.makeStore(.dense, valueLength: 1, updater: AddUpdater())
        #expect(throws: StorageError.self) { try add.check(updater: try UpdaterRegistry.builtIn.make("ftrl")) }
    }

    @Test("the registry rejects options an updater does not have, and bad values")
    func optionsAreChecked() {
        #expect(throws: StorageError.self) { try UpdaterRegistry.builtIn.make("ftrl", options: UpdaterOptions(["lambda1": 1])) }
        #expect(throws: StorageError.self) { try UpdaterRegistry.builtIn.make("sgd", options: UpdaterOptions(["learning_rate": 0])) }
        #expect(throws: StorageError.self) { try UpdaterRegistry.builtIn.make("add", options: UpdaterOptions(["l2": 1])) }
        #expect(throws: StorageError.self) { try UpdaterRegistry.builtIn.make("momentum") }
        #expect(UpdaterRegistry.builtIn.names == ["adagrad", "add", "assign", "ftrl", "sgd"])
    }

    /// The first few (key offset, component, actual, expected) that differ, for the failure message.
    static func differences(_ actual: [Float], _ expected: [Float], valueLength: Int) -> String {
        guard actual.count == expected.count else { return "\(actual.count) values, expected \(expected.count)" }
        let wrong = actual.indices.filter { actual[$0] != expected[$0] }.prefix(4)
        return wrong.map { "key +\($0 / valueLength)[\($0 % valueLength)]: \(actual[$0]) != \(expected[$0])" }.joined(separator: "; ")
    }
}
