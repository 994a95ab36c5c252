extension NodeRole {
    /// The number that starts the names of a node's libzmq threads
    /// (`Context.Options.threadNamePrefix`): the role's wire number times 1000 plus the rank, so
    /// that `top -H` or `perf` shows worker 3's I/O thread as `2003/ZMQbg/IO/0`, server 0's as
    /// `1000/ZMQbg/IO/0` and the manager's as `0/ZMQbg/IO/0`. `nil` (libzmq's plain names) from
    /// rank 1000 on, where the numbers would run into the next role's.
    public func libzmqThreadPrefix(rank: Int) -> Int? {
        (0..<1000).contains(rank) ? Int(rawValue) * 1000 + rank : nil
    }
}
