"""Registers with a running zps cluster, waits, then pushes by the node table it registered with
and pulls the same keys back; prints a JSON report. Checks that the client handles `staleTable`.

    python3 check_stale_table.py MANAGER_ENDPOINT TABLE KEY_COUNT KEY_STRIDE BASE

After registering it prints `registered VERSION` and waits for a line on standard input, so that the
caller can move key ranges (a server joins) before the push: the push then goes by an older table
than the servers', gets `staleTable`, and is sent again by the newer table. Key i * stride gets
(i % 97) * 0.25 + 1 from this client; BASE is what the caller pushed to every key before, so each
pulled value must be exactly BASE plus that.
"""
import json
import sys

import numpy as np

from zps_client import Client, ClusterError

endpoint, table, count, stride = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
base = np.float32(sys.argv[5])
keys = np.arange(count, dtype="<u8") * np.uint64(stride)
values = (np.arange(count) % 97).astype("<f4") * np.float32(0.25) + np.float32(1)
try:
    client = Client(endpoint)
    print(f"registered {client.version}", flush=True)
    sys.stdin.readline()
    routed_by = client.version
    client.push(table, keys, values)
    pulled = client.pull(table, keys).reshape(-1)
    report = {"node": client.me, "routed_by": routed_by, "version": client.version,
              "servers": len(client.servers), "stale_replies": client.stale_replies,
              "exact": bool(np.array_equal(pulled, values + base))}
    client.close()
except ClusterError as error:
    report = {"error": str(error)}
print(json.dumps(report), flush=True)
sys.exit(0 if report.get("exact") else 1)
