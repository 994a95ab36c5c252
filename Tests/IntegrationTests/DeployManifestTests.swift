import Foundation
import ParameterServer
import Testing
import Yams

/// The Kubernetes manifests in deploy/kubernetes: valid for Kubernetes, and in agreement with the
/// topology they carry, so that every pod finds its rank and every name resolves to a pod.
@Suite("Kubernetes manifests")
struct DeployManifestTests {
    static let folder = RealData.packageRoot.appendingPathComponent("deploy/kubernetes")
    static let files = ["topology.yaml", "manager.yaml", "servers.yaml", "workers.yaml"]
    static let underCI = ProcessInfo.processInfo.environment["CI"] == "true"
    /// Whether python3 has the kubernetes-validate package.
    static let validatorInstalled = (try? NetworkNamespaces.run("/usr/bin/env", ["python3", "-c", "import kubernetes_validate"])) != nil

    /// Every document of every manifest, by kind and name.
    static func resources() throws -> [String: [String: Any]] {
        var resources: [String: [String: Any]] = [:]
        for file in files {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            for document in try Yams.load_all(yaml: text) {
                let resource = try #require(document as? [String: Any])
                let kind = try #require(resource["kind"] as? String)
                let name = try #require((resource["metadata"] as? [String: Any])?["name"] as? String)
                resources["\(kind)/\(name)"] = resource
            }
        }
        return resources
    }

    @Test(
        "kubernetes-validate --strict accepts every manifest",
        .enabled(
            if: validatorInstalled || underCI,
            "python3 lacks kubernetes-validate (make python-deps installs it; under CI=true this fails)"))
    func strictlyValid() throws {
        #expect(Self.validatorInstalled, "CI=true and python3 cannot import kubernetes_validate, which make python-deps installs")
        let output = try NetworkNamespaces.run(
            "/usr/bin/env", ["python3", "-m", "kubernetes_validate", "--strict"] + Self.files.map { Self.folder.appendingPathComponent($0).path })
        #expect(output.components(separatedBy: " passed for resource ").count - 1 == 7, "\(output)")
    }

    @Test("the topology in the ConfigMap is valid and names the pods, Services and ports the manifests make")
    func topologyMatchesManifests() throws {
        let resources = try Self.resources()
        let data = try #require((resources["ConfigMap/zps-topology"]?["data"] as? [String: Any])?["topology.yaml"] as? String)
        let topology = try Topology.parse(yaml: data, file: "deploy/kubernetes/topology.yaml")

        func spec(_ key: String) throws -> [String: Any] { try #require(resources[key]?["spec"] as? [String: Any]) }
        func container(_ key: String) throws -> [String: Any] {
            let template = try #require(try spec(key)["template"] as? [String: Any])
            let podSpec = try #require(template["spec"] as? [String: Any])
            return try #require((podSpec["containers"] as? [[String: Any]])?.first)
        }
        func containerPort(_ key: String) throws -> Int {
            try #require(((try container(key)["ports"] as? [[String: Any]])?.first)?["containerPort"] as? Int)
        }
        // The manager: reached through its Service at the topology's host and port.
        #expect(topology.managerEndpoint == "tcp://zps-manager:\(try containerPort("Job/zps-manager"))")
        let managerPorts = try #require(try spec("Service/zps-manager")["ports"] as? [[String: Any]])
        #expect(managerPorts.first?["port"] as? Int == topology.manager.port)
        // Servers: StatefulSet pod N is zps-server-N under the headless Service zps-servers.
        let servers = try spec("StatefulSet/zps-server")
        #expect(servers["replicas"] as? Int == topology.servers.count)
        #expect(servers["serviceName"] as? String == "zps-servers")
        #expect(try spec("Service/zps-servers")["clusterIP"] as? String == "None")
        for rank in 0..<topology.servers.count {
            #expect(topology.connectEndpoint(role: .server, rank: rank) == "tcp://zps-server-\(rank).zps-servers:\(try containerPort("StatefulSet/zps-server"))")
        }
        // Workers: Indexed Job pod N is zps-worker-N in the subdomain zps-workers.
        let workers = try spec("Job/zps-worker")
        #expect(workers["completionMode"] as? String == "Indexed")
        #expect(workers["completions"] as? Int == topology.workers.count)
        #expect(workers["parallelism"] as? Int == topology.workers.count)
        let workerPod = try #require((workers["template"] as? [String: Any])?["spec"] as? [String: Any])
        #expect(workerPod["subdomain"] as? String == "zps-workers")
        for rank in 0..<topology.workers.count {
            #expect(topology.connectEndpoint(role: .worker, rank: rank) == "tcp://zps-worker-\(rank).zps-workers:\(try containerPort("Job/zps-worker"))")
        }
        // Every pod runs `zps launch` with its role and the ready file its probe looks for.
        for (key, role) in [("Job/zps-manager", "manager"), ("StatefulSet/zps-server", "server"), ("Job/zps-worker", "worker")] {
            let command = try #require(try container(key)["command"] as? [String])
            #expect(Array(command.prefix(6)) == ["zps", "launch", "--topology", "/etc/zps/topology.yaml", "--role", role])
            let readyFile = try #require(command.firstIndex(of: "--ready-file").map { command[$0 + 1] })
            let probe = try #require(((try container(key)["readinessProbe"] as? [String: Any])?["exec"] as? [String: Any])?["command"] as? [String])
            #expect(probe == ["test", "-e", readyFile])
        }
    }
}
