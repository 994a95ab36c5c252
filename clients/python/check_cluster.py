"""Joins a running zps cluster, pushes known values, pulls them back and prints a JSON report.

    python3 check_cluster.py MANAGER_ENDPOINT TABLE KEY_COUNT KEY_STRIDE [CLUSTER_KEY CLIENT_SECRET_KEY]

With the last two, the cluster runs CurveZMQ: CLUSTER_KEY is its public key file, CLIENT_SECRET_KEY
this client's secret key file (both as `zps keygen` writes them).

Worker-side programs can then pull the same keys and compare: key i * stride gets the value
(i % 97) * 0.25 + 1 from this client.
"""
import json
import sys

import numpy as np

from zps_client import Client, ClusterError

endpoint, table, count, stride = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
curve = (sys.argv[5], sys.argv[6]) if len(sys.argv) > 6 else None
keys = np.arange(count, dtype="<u8") * np.uint64(stride)
values = (np.arange(count) % 97).astype("<f4") * np.float32(0.25) + np.float32(1)
try:
    client = Client(endpoint, curve=curve, timeout=float(sys.argv[7]) if len(sys.argv) > 7 else 30.0)
    client.push(table, keys, values)
    pulled = client.pull(table, keys).reshape(-1)
    report = {"node": client.me, "servers": len(client.servers), "keys": count,
              "exact": bool(np.array_equal(pulled, values))}
    client.close()
except ClusterError as error:
    report = {"error": str(error)}
print(json.dumps(report))
sys.exit(0 if report.get("exact") else 1)
