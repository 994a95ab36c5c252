extension Socket {
    /// Makes the socket a CurveZMQ server with `keyPair` (before ``bind(to:)``): every connection
    /// is encrypted, and a client whose handshake fails, or that the context's ZAP handler
    /// (``ZAPHandler``) refuses, never gets a message through. Without a ZAP handler bound in the
    /// same context, libzmq admits every client that knows the server's public key.
    public func makeCurveServer(keyPair: CurveKeyPair) throws(ZMQError) {
        try set(.curveServer, to: true)
        try set(.curveSecretKey, to: keyPair.secretKey.bytes)
    }

    /// Makes the socket a CurveZMQ client with `keyPair` of the server whose public key is
    /// `serverKey` (before ``connect(to:)``). A server with another key fails the handshake, and the
    /// socket keeps retrying without delivering anything.
    public func makeCurveClient(keyPair: CurveKeyPair, serverKey: CurveKey) throws(ZMQError) {
        try set(.curveServerKey, to: serverKey.bytes)
        try set(.curvePublicKey, to: keyPair.publicKey.bytes)
        try set(.curveSecretKey, to: keyPair.secretKey.bytes)
    }
}
