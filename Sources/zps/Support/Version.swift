/// The version `zps --version` prints and every `--json` summary carries.
enum ZPSVersion {
    static let current = "0.1.0"
}
