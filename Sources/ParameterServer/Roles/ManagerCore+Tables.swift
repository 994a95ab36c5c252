import ZeroMQ

/// Distributing the node table (docs/PROTOCOL.md, section 7.1). Each member gets the copy its role
/// needs: servers the whole table with every member's connection identity (``ConnectionIdentity``,
/// which they check requests against); workers the whole table without identities; a client the
/// servers and workers and itself, without identities (it needs the ranges, not the other
/// clients). A client's registration is sent to the servers and workers as a change (`nt.base`)
/// of one node, and to the other clients not at all, so that it costs the same however many
/// clients came before; every other change sends the whole copies to every member.
extension ManagerCore {
    /// Sends every member the table of the membership's version, which every change bumps.
    func publishTable() {
        precondition(membership.version > table.version, "the node table changes only with the membership")
        table = NodeTable(
            version: membership.version, nodes: members.values.map(\.info).sorted { $0.id < $1.id },
            chains: listsChains ? membership.chains.map { chain in
                ReplicaChain(range: chain.range, nodes: chain.nodes, catchingUp: membership.catchingUp[chain.range]?.count ?? 0)
            } : [])
        publicTable = NodeTable(version: table.version, nodes: table.nodes.map(\.withoutConnection), chains: table.chains)
        clientView = publicTable.nodes.filter { $0.role != .client }
        for id in members.keys.sorted() { sendTable(to: id) }
        // A joiner waiting to join again follows the tables, which do not list it, until its turn.
        for joiner in joiners where joiner.id != nil {
            send(table, to: joiner.peer, registrationRequest: joiner.registrationRequest)
        }
    }

    /// A client joined (the membership gave it the newest id): the servers and workers get the
    /// change, the client its copy.
    func publishClient(_ client: NodeID) {
        guard let info = members[client]?.info else { return }
        precondition(membership.version == table.version + 1, "a client's admission is one change of the membership")
        precondition(table.nodes.last.map { $0.id < client } ?? true, "a client has the newest id")
        let base = table.version
        table.version = membership.version
        table.nodes.append(info)
        publicTable.version = membership.version
        publicTable.nodes.append(info.withoutConnection)
        for node in clientView {
            guard let member = members[node.id] else { continue }
            if member.sentVersion == base {
                let change = NodeTable(version: table.version, nodes: [node.role == .server ? info : info.withoutConnection], base: base)
                send(change, to: node.id)
            } else {
                sendTable(to: node.id)
            }
        }
        sendTable(to: client)
    }

    /// Sends member `id` the whole copy of the table its role gets.
    func sendTable(to id: NodeID) {
        guard let member = members[id] else { return }
        switch member.info.role {
        case .server, .manager:
            send(table, to: id)
        case .worker:
            send(publicTable, to: id)
        case .client:
            var nodes = clientView
            nodes.insert(member.info.withoutConnection, at: nodes.firstIndex { $0.id > id } ?? nodes.count)
            send(NodeTable(version: table.version, nodes: nodes, chains: table.chains), to: id)
        }
    }

    /// Sends `table` (a whole copy or a change) to member `id`, under the id of its registration.
    private func send(_ table: NodeTable, to id: NodeID) {
        guard let member = members[id] else { return }
        members[id]?.sentVersion = table.version
        send(table, to: member.peer, registrationRequest: member.registrationRequest)
    }

    /// Sends `table` to `peer`, under the id of its registration.
    private func send(_ table: NodeTable, to peer: PeerAddress, registrationRequest: UInt64) {
        let header = Header(kind: .nodeTable, sender: .manager, requestID: registrationRequest, nodeTable: table)
        let frames = MessageCodec.encode(Message(header: header))
        tableTraffic.count(bytes: frames.reduce(0) { $0 + $1.count }, isChange: table.base != nil)
        directives.append(.sendFrames(frames, to: peer, onFailure: .logged))
    }
}
