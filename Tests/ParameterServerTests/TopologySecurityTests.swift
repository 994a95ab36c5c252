import Foundation
import Testing
import ZeroMQ

@testable import ParameterServer

/// The topology's `security` section: CURVE keys inline or from `zps keygen` files, and plaintext
/// allowed beyond loopback only when the file says so.
@Suite("Topology security")
struct TopologySecurityTests {
    static func yaml(servers: String = "servers: { count: 2 }", security: String) -> String {
        """
        name: secure
        \(servers)
        workers: { count: 1 }
        tables: [{ name: w }]
        application: { kind: pushpull }
        \(security)
        """
    }

    static func parseError(_ text: String, file: String = "secure.yaml") -> TopologyError? {
        do {
            _ = try Topology.parse(yaml: text, file: file)
            return nil
        } catch {
            return error
        }
    }

    @Test("inline keys: the cluster pair derived from its secret, the allowed clients, CURVE transports")
    func inlineKeys() throws {
        let cluster = try CurveKeyPair.generate()
        let client = try CurveKeyPair.generate()
        let topology = try Topology.parse(
            yaml: Self.yaml(security: """
                security:
                  curve:
                    cluster_secret_key: "\(cluster.secretKey.z85)"
                    allowed_clients: ["\(client.publicKey.z85)"]
                """),
            file: "secure.yaml")
        let curve = CurveSettings(clusterKeyPair: cluster, allowedClients: [client.publicKey])
        #expect(topology.security == SecuritySpec(insecure: false, curve: curve))
        #expect(topology.security.transportSecurity == .curve(curve))
        #expect(curve.admittedKeys == [cluster.publicKey, client.publicKey])
        #expect(!"\(topology)".contains(cluster.secretKey.z85))
    }

    @Test("key files from zps keygen, relative to the topology file; a secret file readable by others is refused")
    func keyFiles() throws {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("zps-security-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let cluster = try CurveKeyPair.generate()
        let client = try CurveKeyPair.generate()
        _ = try CurveKeyFile.write(cluster, base: directory.appendingPathComponent("cluster").path)
        _ = try CurveKeyFile.write(client, base: directory.appendingPathComponent("client").path)
        let file = directory.appendingPathComponent("topology.yaml").path
        let text = Self.yaml(security: """
            security:
              curve:
                cluster_secret_key_file: cluster.key_secret
                allowed_clients: [client.key]
            """)
        let topology = try Topology.parse(yaml: text, file: file)
        #expect(topology.security.curve == CurveSettings(clusterKeyPair: cluster, allowedClients: [client.publicKey]))

        let secretPath = directory.appendingPathComponent("cluster.key_secret").path
        #expect(chmod(secretPath, 0o644) == 0)
        let error = Self.parseError(text, file: file)
        #expect(error?.code == .unreadable)
        #expect(error?.description == "\(file):8:30: security.curve.cluster_secret_key_file: \(secretPath) is readable by others (mode 644); chmod 600 it")
    }

    @Test("mistakes in the section are located errors that never quote a secret")
    func mistakes() throws {
        let cluster = try CurveKeyPair.generate()
        let secret = cluster.secretKey.z85
        let cases: [(String, TopologyError.Code, String)] = [
            ("security: { curve: { allowed_clients: [] } }", .missing,
             "secure.yaml:6:20: security.curve.cluster_secret_key_file: required field is missing"),
            ("security: { curve: { cluster_secret_key: \"\(secret.dropLast())\" } }", .invalidValue,
             "secure.yaml:6:42: security.curve.cluster_secret_key: expected a secret key: 40 characters of Z85 (the value is not shown)"),
            ("security: { curve: { cluster_secret_key: \"\(secret)\", cluster_secret_key_file: x } }", .conflict,
             "secure.yaml:6:42: security.curve.cluster_secret_key: give cluster_secret_key_file or cluster_secret_key, not both"),
            ("security: { curve: { cluster_secret_key_file: /nonexistent/cluster.key_secret } }", .unreadable,
             "secure.yaml:6:47: security.curve.cluster_secret_key_file: cannot read /nonexistent/cluster.key_secret: No such file or directory"),
            ("security: { curve: { cluster_secret_key: \"\(secret)\", allowed_clients: [/nonexistent/not-a-key] } }", .unreadable,
             "secure.yaml:6:104: security.curve.allowed_clients[0]: cannot read /nonexistent/not-a-key: No such file or directory"),
            ("security: { insecure: true, curve: { cluster_secret_key: \"\(secret)\" } }", .conflict,
             "secure.yaml:6:23: security.insecure: insecure: true and curve exclude each other: CURVE encrypts every connection"),
            ("security: { insecure: maybe }", .invalidValue, "secure.yaml:6:23: security.insecure: expected one of true, false, found \"maybe\""),
            ("security: { curve: { public_key: x } }", .unknownKey, ""),
        ]
        for (security, code, description) in cases {
            let error = Self.parseError(Self.yaml(security: security))
            #expect(error?.code == code, "\(security)")
            if !description.isEmpty { #expect(error?.description == description) }
            #expect(error?.description.contains(secret) == false)
        }
    }

    @Test("plaintext beyond loopback is refused at the field that places it, unless insecure: true; CURVE may bind anywhere")
    func plaintextBeyondLoopback() throws {
        let cases: [(String, String)] = [
            ("servers: { count: 2, bind: 0.0.0.0 }", "secure.yaml:2:28: servers.bind: servers (rank 0) would bind tcp://0.0.0.0:* in plaintext"),
            ("servers: { count: 1, host: 10.0.0.5 }", "secure.yaml:2:28: servers.host: servers would bind tcp://10.0.0.5:* in plaintext"),
            ("servers: { count: 2, hosts: [127.0.0.1, 10.0.0.6] }", "secure.yaml:2:29: servers.hosts: servers (rank 1) would bind tcp://10.0.0.6:* in plaintext"),
        ]
        for (servers, prefix) in cases {
            let error = Self.parseError(Self.yaml(servers: servers, security: ""))
            #expect(error?.code == .insecure)
            #expect(error?.description.hasPrefix(prefix) == true, "\(error?.description ?? "no error")")
            #expect(try Topology.parse(yaml: Self.yaml(servers: servers, security: "security: { insecure: true }"), file: "x.yaml")
                .security.transportSecurity == .plaintext(beyondLoopback: true))
            let secret = try CurveKeyPair.generate().secretKey.z85
            #expect(try Topology.parse(
                yaml: Self.yaml(servers: servers, security: "security: { curve: { cluster_secret_key: \"\(secret)\" } }"),
                file: "x.yaml").security.curve != nil)
        }
        #expect(try Topology.parse(yaml: Self.yaml(security: ""), file: "x.yaml").security.transportSecurity
            == .plaintext(beyondLoopback: false))
    }
}
