/// A command that cannot go on, for a reason the user can fix: bad input, a missing file, a failed
/// job. `zps` prints the description after `zps: ` and exits with status 1, without a usage line
/// (usage lines are for mistakes in the command line itself).
struct CommandFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
