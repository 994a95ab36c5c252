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
        self.manager = self._dealer(manager_endpoint)
        deadline = time.monotonic() + timeout
        while True:
            self._send(self.manager, {"k": REGISTER, "id": next(self.ids), "role": CLIENT, "rank": 0, "ep": self.name})
            header, _ = self._receive(self.manager, f"the manager at {manager_endpoint}")
            if header["k"] == NODE_TABLE:
                break
            if header["k"] == ERROR and time.monotonic() < deadline:
                time.sleep(0.2)  # e.g. the job is not running yet
                continue
            raise ClusterError(f"registration refused: {header.get('em')}")
        nodes = header["nt"]["nodes"]
        self.me = next(n["id"] for n in nodes if n["role"] == CLIENT and n["ep"] == self.name)
        servers = [n for n in nodes if n["role"] == SERVER]
        self.servers = [(self._dealer(n["ep"]), n["ep"]) for n in servers]
        # Every server's ranges (many: the manager's hash ring), sorted, with the index of their server.
        ranges = sorted((lo, index) for index, n in enumerate(servers) for lo, _ in n.get("ranges", []))
        self.starts = np.array([lo for lo, _ in ranges], dtype="<u8")
        self.owners = np.array([index for _, index in ranges])

    def close(self):
        self.ctx.destroy(linger=0)

    def _dealer(self, endpoint):
        socket = self.ctx.socket(zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 1000)
        socket.setsockopt(zmq.ROUTING_ID, self.routing_id)
        if self.curve:
            socket.curve_serverkey, socket.curve_publickey, socket.curve_secretkey = self.curve
        socket.connect(endpoint)
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

    def _split(self, keys):
        """Yields (server socket, endpoint, positions of its keys) for sorted unique keys: one part
        per server, however many of its ranges the keys fall in."""
        owner = self.owners[np.searchsorted(self.starts, keys, side="right") - 1]
        for index in np.unique(owner):
            socket, endpoint = self.servers[index]
            yield socket, endpoint, np.flatnonzero(owner == index)

    def push(self, table, keys, values, vl=1):
        keys = np.asarray(keys, dtype="<u8")
        values = np.ascontiguousarray(np.asarray(values, dtype="<f4").reshape(len(keys), vl))
        pending = []
        for socket, endpoint, part in self._split(keys):
            request_id = self._next_request_id(endpoint)
            header = {"k": PUSH, "id": request_id, "t": table, "n": len(part), "vl": vl}
            self._send(socket, header, keys[part].tobytes(), values[part].tobytes())
            pending.append((socket, endpoint, request_id))
        for socket, endpoint, request_id in pending:
            reply, _ = self._receive(socket, endpoint)
            if reply["k"] == ERROR:
                raise ClusterError(f"{endpoint}: {reply.get('em')} (code {reply.get('ec')})")
            assert reply["id"] == request_id and reply["k"] == PUSH_ACK, reply

    def pull(self, table, keys, vl=1):
        keys = np.asarray(keys, dtype="<u8")
        out = np.empty((len(keys), vl), dtype="<f4")
        for socket, endpoint, part in self._split(keys):
            request_id = self._next_request_id(endpoint)
            header = {"k": PULL, "id": request_id, "t": table, "n": len(part), "vl": vl}
            self._send(socket, header, keys[part].tobytes())
            reply, payload = self._receive(socket, endpoint)
            if reply["k"] == ERROR:
                raise ClusterError(f"{endpoint}: {reply.get('em')} (code {reply.get('ec')})")
            assert reply["id"] == request_id and reply["k"] == PULL_REPLY, reply
            out[part] = np.frombuffer(payload[0], dtype="<f4").reshape(-1, vl)
        return out
