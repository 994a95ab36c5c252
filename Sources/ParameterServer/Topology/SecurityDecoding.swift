import Foundation
import Yams
import ZeroMQ

extension YAMLFieldReader {
    static let securityKeys = ["insecure", "curve"]
    static let curveKeys = ["cluster_secret_key_file", "cluster_secret_key", "allowed_clients"]

    /// Reads the `security` section. Key files are read now, so that a missing or unreadable one
    /// stops every command before anything starts; relative paths are taken from the topology
    /// file's directory.
    mutating func security(_ node: Node) throws(TopologyError) -> SecuritySpec {
        let fields = try fields(node, "security", allowed: Self.securityKeys, expected: "a mapping of security settings")
        var spec = SecuritySpec()
        if let insecure = fields.value("insecure") {
            spec.insecure = try choice(insecure, "security.insecure", among: ["true", "false"]) == "true"
        }
        if let curveNode = fields.value("curve") {
            if spec.insecure, let insecure = fields.value("insecure") {
                throw error(.conflict, insecure, "security.insecure", "insecure: true and curve exclude each other: CURVE encrypts every connection")
            }
            spec.curve = try curve(curveNode)
        }
        return spec
    }

    private mutating func curve(_ node: Node) throws(TopologyError) -> CurveSettings {
        let fields = try fields(node, "security.curve", allowed: Self.curveKeys, expected: "a mapping of CURVE keys")
        let secretKey: CurveSecretKey
        switch (fields.value("cluster_secret_key_file"), fields.value("cluster_secret_key")) {
        case (let file?, nil):
            let path = "security.curve.cluster_secret_key_file"
            let contents = try keyFile(file, path, secret: true)
            secretKey = contents.secretKey!
        case (nil, let inline?):
            let path = "security.curve.cluster_secret_key"
            let text = try self.text(inline, path, expected: "a secret key: 40 characters of Z85")
            guard let key = CurveSecretKey(z85: text) else {
                throw error(.invalidValue, inline, path, "expected a secret key: 40 characters of Z85 (the value is not shown)")
            }
            secretKey = key
        case (_?, let inline?):
            throw error(.conflict, inline, "security.curve.cluster_secret_key", "give cluster_secret_key_file or cluster_secret_key, not both")
        case (nil, nil):
            throw missing(fields, "cluster_secret_key_file", what: "field")
        }
        let keyPair: CurveKeyPair
        do {
            keyPair = try CurveKeyPair(secretKey: secretKey)
        } catch {
            throw self.error(.invalidValue, node, "security.curve", "cannot derive the cluster's public key: \(error)")
        }
        var allowed: Set<CurveKey> = []
        if let list = fields.value("allowed_clients") {
            let path = "security.curve.allowed_clients"
            let expected = "a list of client public keys (40 characters of Z85, or a .key file)"
            for (index, entry) in try self.list(list, path, expected: expected).enumerated() {
                let entryPath = "\(path)[\(index)]"
                let text = try self.text(entry, entryPath, expected: "a public key (40 characters of Z85) or a .key file")
                if let key = CurveKey(z85: text) {
                    allowed.insert(key)
                } else if let key = try keyFile(entry, entryPath, secret: false).publicKey {
                    allowed.insert(key)
                } else {
                    throw error(.invalidValue, entry, entryPath, "\(text) holds no public-key")
                }
            }
        }
        return CurveSettings(clusterKeyPair: keyPair, allowedClients: allowed)
    }

    /// The keys in the file `node` names, relative to the topology file's directory.
    private mutating func keyFile(_ node: Node, _ path: String, secret: Bool) throws(TopologyError) -> CurveKeyFile.Contents {
        let name = try text(node, path, expected: secret ? "a secret key file (zps keygen)" : "a public key or key file")
        let resolved = name.hasPrefix("/") || file == TopologyLocation.commandLineFile
            ? name : URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent(name).path
        do {
            return try CurveKeyFile.read(resolved, secret: secret)
        } catch {
            throw self.error(.unreadable, node, path, error.description)
        }
    }
}
