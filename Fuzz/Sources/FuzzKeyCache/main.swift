import FuzzSupport
import ParameterServer
import ZeroMQ

/// The key cache receiver, driven by a sequence of operations read from the input: each stores or
/// restores a key list (with its true hash, or a hash from the input). A restored message carries
/// exactly the keys last stored under its hash, and the cache stays within its budget.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = FuzzInput(start, count).bytes
    let capacity = 256
    var receiver = KeyCacheReceiver(capacityBytes: capacity)
    var stored: [UInt64: [UInt8]] = [:]
    var position = 0
    func take(_ n: Int) -> [UInt8] {
        let end = min(position + n, bytes.count)
        defer { position = end }
        return Array(bytes[position..<end])
    }
    while position < bytes.count {
        let operation = take(1)[0]
        let keyCount = Int(operation >> 3)
        let keys = take(8 * keyCount)
        let trueHash = keys.withUnsafeBytes { KeyListHash.hash($0) }
        let hash: UInt64
        if operation & 2 == 0 {
            hash = trueHash
        } else {
            hash = take(8).enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        }
        var header = Header(kind: .push, sender: NodeID(2), requestID: 1, keyCount: UInt32(keys.count / 8), valueLength: 1)
        header.keyCacheHash = hash
        if operation & 1 == 0 {
            header.flags = .cacheKeys
            if let echoed = receiver.store(Message(header: header, keys: Frame(bytes: keys))) {
                fuzzCheck(echoed == trueHash && hash == trueHash, "a list was cached under a hash it does not have")
                stored[hash] = keys
            }
        } else {
            header.flags = .keysCached
            if let restored = try? receiver.restore(Message(header: header)) {
                fuzzCheck(restored.keys?.bytes == stored[hash], "restored keys differ from the list stored under the hash")
                fuzzCheck(restored.keys?.count == 8 * Int(header.keyCount), "restored keys differ in count from n")
            }
        }
        fuzzCheck(receiver.storedBytes <= capacity, "the cache grew beyond its budget")
    }
    return 0
}
