import ArgumentParser
import ParameterServer
import ZeroMQ

/// `zps keygen NAME`: a new CurveZMQ key pair, as `NAME.key` (public) and `NAME.key_secret`
/// (both keys, mode 0600), in the certificate format pyzmq's `zmq.auth.load_certificate` reads.
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Write a new CurveZMQ key pair: NAME.key (public) and NAME.key_secret (mode 0600).",
        discussion: """
            The cluster's pair goes in the topology as security.curve.cluster_secret_key_file; a \
            foreign client's public key (its NAME.key) goes in security.curve.allowed_clients. \
            Existing files are never replaced. The secret key is never printed.
            """)

    @Argument(help: "The path and name of the pair, e.g. keys/cluster.")
    var name: String

    func run() throws {
        guard CurveKeyPair.isSupported else { throw CommandFailure("this libzmq was built without CURVE") }
        let keyPair: CurveKeyPair
        do {
            keyPair = try CurveKeyPair.generate()
        } catch {
            throw CommandFailure("cannot make a key pair: \(error)")
        }
        do {
            let (publicPath, secretPath) = try CurveKeyFile.write(keyPair, base: name)
            print("wrote \(publicPath) (public key \(keyPair.publicKey)) and \(secretPath) (mode 0600)")
        } catch {
            throw CommandFailure(error.description)
        }
    }
}
