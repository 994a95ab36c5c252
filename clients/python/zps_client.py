"""A minimal zps client: joins a running cluster as a foreign client and pushes/pulls servers.

It follows docs/PROTOCOL.md and needs only pyzmq, msgpack and numpy:

    client = Client("tcp://127.0.0.1:40000")
    keys = np.unique(np.random.randint(0, 2**20, 1000).astype("<u8"))
    client.push(0, keys, np.ones(len(keys)))
    print(client.pull(0, keys)[:5])
"""
import itertools
import os
import time

import msgpack
import numpy as np
import zmq

VERSION = 1
UNASSIGNED = 0xFFFFFFFF
REGISTER, NODE_TABLE, HEARTBEAT, SHUTDOWN, SHUTDOWN_ACK = 1, 2, 3, 7, 8
PUSH, PUSH_ACK, PULL, PULL_REPLY, ERROR = 16, 17, 18, 19, 31
SERVER, CLIENT = 1, 3
STALE_TABLE = 19


class ClusterError(RuntimeError):
    """An error reply from a zps node, or a peer that did not answer in time."""


class Client:
    def __init__(self, manager_endpoint, name=None, timeout=30.0, curve=None):
        """curve: for a cluster under CurveZMQ, (cluster public key file, client secret key file),
        the files `zps keygen` writes (PROTOCOL.md section 7.7)."""
        self.ctx = zmq.Context()
        self.curve = None
        if curve:
            from zmq.auth import load_certificate
            server_public, _ = load_certificate(curve[0])
            client_public, client_secret = load_certificate(curve[1])
            self.curve = (server_public, client_public, client_secret)
        self.timeout = timeout
        self.timeout_ms = int(timeout * 1000)
        self.ids = itertools.count(1)
        # Data requests are numbered 1, 2, 3, ... per server: each server applies a sender's
        # requests in that order, once each (PROTOCOL.md section 8).
        self.request_ids = {}
        self.me = UNASSIGNED
        self.name = name or f"python-client-{id(self):x}"
        # Every DEALER connects with this routing id, so that the manager and every server know
        # this client's connection by the same id: a server accepts this client's requests only
        # from the connection it registered from (PROTOCOL.md section 7.8). The first byte must
        # not be zero (libzmq reserves such ids for those it makes up).
        self.routing_id = bytes([0x80 | os.urandom(1)[0]]) + os.urandom(15)
        self.sockets = {}           # endpoint -> DEALER
        self.version = 0            # the node table routed by
        self.nodes = {}             # node id -> node of that table
        self.chains = None
        self.stale_replies = 0      # staleTable errors met (each request sent again by a newer table)
        self.manager = self._dealer(manager_endpoint)
        self.manager_endpoint = manager_endpoint
        deadline = time.monotonic() + timeout
        while True:
            self._register()
            header, _ = self._receive(self.manager, f"the manager at {manager_endpoint}")
            if header["k"] == NODE_TABLE:
                break
            if header["k"] == ERROR and time.monotonic() < deadline:
                time.sleep(0.2)  # e.g. the job is not running yet
                continue
            raise ClusterError(f"registration refused: {header.get('em')}")
        nodes = header["nt"]["nodes"]
        self.me = next(n["id"] for n in nodes if n["role"] == CLIENT and n["ep"] == self.name)
        self._apply_table(header["nt"])

    def close(self):
        self.ctx.destroy(linger=0)

    def _register(self):
        self._send(self.manager, {"k": REGISTER, "id": next(self.ids), "role": CLIENT, "rank": 0, "ep": self.name})

    def _dealer(self, endpoint):
        socket = self.sockets.get(endpoint)
        if socket is None:
            socket = self.ctx.socket(zmq.DEALER)
            socket.setsockopt(zmq.LINGER, 1000)
            socket.setsockopt(zmq.ROUTING_ID, self.routing_id)
            if self.curve:
                socket.curve_serverkey, socket.curve_publickey, socket.curve_secretkey = self.curve
            socket.connect(endpoint)
            self.sockets[endpoint] = socket
        return socket

    def _send(self, socket, header, *payload):
        header = {"v": VERSION, "s": self.me, **header}
        socket.send_multipart([msgpack.packb(header)] + [bytes(p) for p in payload])

    def _receive(self, socket, peer):
        if not socket.poll(self.timeout_ms):
            raise ClusterError(f"{peer} did not answer within {self.timeout_ms} ms")
        frames = socket.recv_multipart()
        return msgpack.unpackb(frames[0], raw=False), frames[1:]

    def _next_request_id(self, endpoint):
        counter = self.request_ids.setdefault(endpoint, itertools.count(1))
        return next(counter)

    # Node tables (PROTOCOL.md sections 7.1 and 15)

    def _apply_table(self, table):
        """Routes by `table` from now on if it is newer than the one held. A change (`base`) of a
        version this client does not hold cannot be applied: the client registers again, which the
        manager answers with the whole table."""
        if table["ver"] <= self.version:
            return
        if "base" in table:
            if table["base"] != self.version:
                self._register()
                return
            for node in table["nodes"]:
                self.nodes[node["id"]] = node
        else:
            self.nodes = {node["id"]: node for node in table["nodes"]}
            self.chains = table.get("chains")
        self.version = table["ver"]
        # Every segment's first key, sorted, and the server requests for it go to: the head of its
        # chain when the table has chains (during a join a drained segment is in no server's
        # `ranges`, but its chain still names its head), else the server whose `ranges` hold it.
        if self.chains:
            segments = sorted((chain[0], chain[2]) for chain in self.chains)
        else:
            segments = sorted((lower, node["id"]) for node in self.nodes.values() if node["role"] == SERVER
                              for lower, _ in node.get("ranges", []))
        self.starts = np.array([lower for lower, _ in segments], dtype="<u8")
        self.owners = np.array([server for _, server in segments])
        self.servers = [node for node in self.nodes.values() if node["role"] == SERVER]

    def serve_manager(self, wait_ms=0):
        """Call now and then: follows node-table updates and acknowledges shutdown. Returns False
        once the manager said the job ended."""
        while self.manager.poll(wait_ms):
            header, _ = self._receive(self.manager, "the manager")
            if header["k"] == NODE_TABLE:
                self._apply_table(header["nt"])
            elif header["k"] == SHUTDOWN:
                self._send(self.manager, {"k": SHUTDOWN_ACK, "id": header["id"]})
                return False
            wait_ms = 0
        return True

    def _wait_for_table_after(self, version, deadline):
        """Waits until this client routes by a node table newer than `version`. The manager sends
        every change of ranges to clients; one that does not come within a second is asked for by
        registering again (answered with the current table)."""
        asked = time.monotonic()
        while self.version <= version:
            now = time.monotonic()
            if now > deadline:
                raise ClusterError(f"no node table newer than version {version} came within {self.timeout} s")
            if now - asked > 1.0:
                self._register()
                asked = now
            if not self.serve_manager(wait_ms=100):
                raise ClusterError("the job ended")

    # Data requests (PROTOCOL.md sections 7.4 and 15)

    def _split(self, keys):
        """Yields (server id, endpoint, positions of its keys) for sorted unique keys: one part
        per server, however many of its segments the keys fall in."""
        owner = self.owners[np.searchsorted(self.starts, keys, side="right") - 1]
        for server in np.unique(owner):
            yield int(server), self.nodes[int(server)]["ep"], np.flatnonzero(owner == server)

    def _exchange(self, kind, table, keys, vl, values=None):
        """Sends a push (with `values`) or a pull of sorted unique keys, one request per server,
        and collects the replies; returns the pulled values. A part refused with staleTable was
        routed by an older table than its server's; nothing of it was applied, so once this client
        holds a newer table the part is split by it and sent again as new requests, naming the
        request it repeats in `org` (section 15)."""
        out = np.empty((len(keys), vl), dtype="<f4") if kind == PULL else None
        deadline = time.monotonic() + self.timeout
        todo = [(np.arange(len(keys)), None)]  # (positions in keys, org of the request they repeat)
        while todo:
            routed_by = self.version
            waiting = {}
            for positions, org in todo:
                for server, endpoint, part in self._split(keys[positions]):
                    positions_here = positions[part]
                    request_id = self._next_request_id(endpoint)
                    header = {"k": kind, "id": request_id, "t": table, "n": len(positions_here), "vl": vl, "tv": routed_by}
                    payload = [keys[positions_here].tobytes()]
                    if kind == PUSH:
                        payload.append(values[positions_here].tobytes())
                        if org:
                            header["org"] = org
                    self._send(self._dealer(endpoint), header, *payload)
                    waiting[(endpoint, request_id)] = (server, positions_here, org or [server, self.me, request_id])
            todo = []
            while waiting:
                endpoint, request_id = next(iter(waiting))
                reply, payload = self._receive(self._dealer(endpoint), endpoint)
                entry = waiting.pop((endpoint, reply["id"]), None)
                if entry is None:
                    continue  # a late reply to a request answered already
                server, positions, org = entry
                if reply["k"] == ERROR and reply.get("ec") == STALE_TABLE:
                    self.stale_replies += 1
                    todo.append((positions, org))
                    continue
                if reply["k"] == ERROR:
                    raise ClusterError(f"{endpoint}: {reply.get('em')} (code {reply.get('ec')})")
                expected = PUSH_ACK if kind == PUSH else PULL_REPLY
                assert reply["k"] == expected, reply
                if kind == PULL:
                    out[positions] = np.frombuffer(payload[0], dtype="<f4").reshape(-1, vl)
            if todo:
                self._wait_for_table_after(routed_by, deadline)
        return out

    def push(self, table, keys, values, vl=1):
        keys = np.asarray(keys, dtype="<u8")
        values = np.ascontiguousarray(np.asarray(values, dtype="<f4").reshape(len(keys), vl))
        self._exchange(PUSH, table, keys, vl, values)

    def pull(self, table, keys, vl=1):
        return self._exchange(PULL, table, np.asarray(keys, dtype="<u8"), vl)
