import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Checks of files a job reads or writes, made before any process starts, so that a job never
/// learns at its end that it cannot write its result.
enum FileChecks {
    /// Why `path` cannot be written as a new or replaced file, or nil when it can.
    static func outputProblem(_ path: String) -> String? {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { return "\(path) is a directory" }
            return access(path, W_OK) == 0 ? nil : "cannot write \(path): \(String(cString: strerror(errno)))"
        }
        let directory = (path as NSString).deletingLastPathComponent
        let parent = directory.isEmpty ? "." : directory
        guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory) else {
            return "cannot write \(path): the directory \(parent) does not exist"
        }
        guard isDirectory.boolValue else { return "cannot write \(path): \(parent) is not a directory" }
        return access(parent, W_OK) == 0 ? nil : "cannot write \(path): \(String(cString: strerror(errno))) in \(parent)"
    }

    /// Why `path` cannot be read as a data file, or nil when it can; `hint` follows a missing file.
    static func inputProblem(_ path: String, hint: String = "") -> String? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            return "cannot open \(path): No such file or directory" + hint
        }
        if isDirectory.boolValue { return "\(path) is a directory, not a data file" }
        return access(path, R_OK) == 0 ? nil : "cannot read \(path): \(String(cString: strerror(errno)))"
    }
}
