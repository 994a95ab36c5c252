extension Topology {
    /// Makes every table's updater from its `updater_options` with `registry`, as a server will, and
    /// throws the first refusal located at the table: an option the updater does not take at that
    /// option, e.g. `local.yaml:24:24: tables[0].updater_options.learnig_rate: updater 'sgd' has no
    /// option 'learnig_rate'; it takes l2, learning_rate; did you mean "learning_rate"?`, and a value
    /// out of range at `updater_options`. Run before any process starts, so that a typo costs no
    /// cluster start-up.
    public func validateUpdaterOptions(registry: UpdaterRegistry = .builtIn) throws(TopologyError) {
        for (index, table) in tables.enumerated() {
            let path = "tables[\(index)].updater_options"
            do {
                _ = try registry.make(table.updater, options: UpdaterOptions(table.updaterOptions))
            } catch {
                // The option the updater does not know is the one it refuses even on its own.
                let unknown = table.updaterOptions.keys.sorted().first { key in
                    do {
                        _ = try registry.make(table.updater, options: UpdaterOptions([key: table.updaterOptions[key]!]))
                        return false
                    } catch let refusal as StorageError {
                        return refusal.code == .unknownFunction
                    } catch {
                        return false
                    }
                }
                let field = unknown.map { "\(path).\($0)" } ?? path
                throw TopologyError(.invalidValue, at: location(of: field), path: field, message: "\(error)")
            }
        }
    }
}
