"""Registers many foreign clients with a running zps cluster and times each registration.

    python3 register_many.py tcp://127.0.0.1:40000 1000 [--push KEY]

Each client connects its DEALERs with a routing id of its own (PROTOCOL.md section 7.8), sends
`register` and waits for its node table; the clients stay connected, as real ones would. With
`--push KEY`, each client then pushes 1.0 to KEY on the server that owns it and waits for the
acknowledgement, which proves that the server's table lists the client and its connection.
Prints one JSON object: every client's id and table, the seconds the registrations took in all,
and the mean of the first and of the last 100 registrations in milliseconds.
"""
import json
import os
import sys
import time

import msgpack
import zmq

UNASSIGNED = 0xFFFFFFFF
REGISTER, NODE_TABLE, PUSH, PUSH_ACK, ERROR = 1, 2, 16, 17, 31
SERVER, CLIENT = 1, 3


def dealer(ctx, endpoint, routing_id):
    socket = ctx.socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.ROUTING_ID, routing_id)
    socket.connect(endpoint)
    return socket


def receive(socket, what):
    if not socket.poll(30_000):
        raise SystemExit(f"{what} did not answer within 30 s")
    frames = socket.recv_multipart()
    return msgpack.unpackb(frames[0], raw=False)


def main():
    manager_endpoint, count = sys.argv[1], int(sys.argv[2])
    push_key = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--push" else None
    ctx = zmq.Context()
    ctx.set(zmq.MAX_SOCKETS, 4 * count + 64)
    sockets, clients, durations = [], [], []
    started = time.monotonic()
    for index in range(count):
        routing_id = bytes([0x80 | os.urandom(1)[0]]) + os.urandom(15)
        name = f"register-many-{index}"
        manager = dealer(ctx, manager_endpoint, routing_id)
        sockets.append(manager)
        begin = time.monotonic()
        manager.send(msgpack.packb({"v": 1, "k": REGISTER, "s": UNASSIGNED, "id": 1, "role": CLIENT, "rank": index, "ep": name}))
        header = receive(manager, "the manager")
        durations.append(time.monotonic() - begin)
        if header["k"] != NODE_TABLE:
            raise SystemExit(f"registration {index} refused: {header.get('em')}")
        table = header["nt"]
        me = next(n["id"] for n in table["nodes"] if n["role"] == CLIENT and n["ep"] == name)
        client = {"id": me, "version": table["ver"], "nodes": [[n["id"], n["role"]] for n in table["nodes"]],
                  "identities": sum(1 for n in table["nodes"] if "rid" in n or "pk" in n)}
        if push_key is not None:
            server = next(n for n in table["nodes"]
                          if n["role"] == SERVER and any(lo <= push_key < hi for lo, hi in n.get("ranges", [])))
            socket = dealer(ctx, server["ep"], routing_id)
            sockets.append(socket)
            socket.send_multipart([
                msgpack.packb({"v": 1, "k": PUSH, "s": me, "id": 1, "t": 0, "n": 1, "vl": 1}),
                push_key.to_bytes(8, "little"), b"\x00\x00\x80\x3f"])
            reply = receive(socket, "the server")
            client["ack"] = reply["k"] == PUSH_ACK and reply["id"] == 1
            if not client["ack"]:
                client["reply"] = {"k": reply["k"], "ec": reply.get("ec"), "em": reply.get("em")}
        clients.append(client)
        if len(clients) % 100 == 0:  # progress, for runs cut short
            print(f"{len(clients)} registered after {time.monotonic() - started:.1f} s; "
                  f"the last 100 took {1000 * sum(durations[-100:]) / 100:.1f} ms each", file=sys.stderr, flush=True)
    seconds = time.monotonic() - started
    print(json.dumps({
        "clients": clients, "seconds": seconds,
        "first100_ms": 1000 * sum(durations[:100]) / len(durations[:100]),
        "last100_ms": 1000 * sum(durations[-100:]) / len(durations[-100:]),
    }))
    sys.stdout.flush()
    for socket in sockets:
        socket.close()
    ctx.term()


if __name__ == "__main__":
    main()
