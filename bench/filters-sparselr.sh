#!/usr/bin/env bash
# The sparse-LR job with each communication filter off and on: bytes the workers put on the wire,
# pushed keys, time per epoch and final test AUC, one `zps run` per variant.
#
#   bench/filters-sparselr.sh [TOPOLOGY] [EPOCHS]
#
# TOPOLOGY defaults to Topologies/local.yaml (generated data: `make run` generates it once, or
# `zps generate`); Topologies/criteo.yaml needs ../shared/data. Each variant is the topology with a
# `filters:` line added to its table (Topologies/README.md); runs go to a temporary directory.
# ZPS picks the binary (default .build/release/zps); VARIANTS replaces the list, as
# "name=filters;name=filters", e.g. VARIANTS="kkt 2=kkt: 2".
set -euo pipefail
topology=${1:-Topologies/local.yaml}
epochs=${2:-}
zps=${ZPS:-.build/release/zps}
default_variants="none=;key caching=key_caching: true;compression=compression: true;key caching + compression=key_caching: true, compression: true;significantly modified 0.001=significantly_modified: 0.001;kkt 1=kkt: 1;kkt 2=kkt: 2;all lossless + kkt 1=key_caching: true, compression: true, kkt: 1"
variants=${VARIANTS:-$default_variants}
work=$(mktemp -d "${TMPDIR:-/tmp}/zps-filters-sparselr.XXXXXX")

printf '%-30s %14s %14s %12s %12s %10s %8s\n' variant "plain B sent" "B sent" "B received" "pushed keys" "s/epoch" AUC
IFS=';' read -r -a list <<< "$variants"
for index in "${!list[@]}"; do
    name=${list[$index]%%=*}
    filters=${list[$index]#*=}
    variant="$work/variant-$index.yaml"
    # Paths in a topology are relative to its file, so the variant's are made absolute.
    python3 - "$topology" "$variant" "$filters" <<'PY'
import os, re, sys
source, target, filters = sys.argv[1:4]
base = os.path.dirname(os.path.abspath(source))
out = []
for line in open(source):
    path = re.match(r"^(\s+(?:train|test|test_probabilities|save_model):\s*)([^\s#/][^\s#]*)(.*)$", line, re.S)
    if path:
        line = path.group(1) + os.path.normpath(os.path.join(base, path.group(2))) + path.group(3)
    out.append(line)
    if filters and line.strip().startswith("updater:") and line.startswith("    "):
        out.append("    filters: { %s }\n" % filters)
open(target, "w").write("".join(out))
PY
    overrides=()
    if [ -n "$epochs" ]; then overrides=(--set "epochs=$epochs"); fi
    "$zps" run "$variant" "${overrides[@]}" --json "$work/$index.json" > "$work/$index.log" 2>&1 \
        || { echo "$name: zps run failed, see $work/$index.log" >&2; continue; }
    python3 - "$work/$index.json" "$name" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
workers = run.get("worker_results", [])
wire = lambda key: sum(w.get("wire", {}).get(key, 0) for w in workers)
epochs = max(len(w.get("epochs", [])) for w in workers) or 1
seconds = max(w.get("training_seconds", 0) for w in workers) / epochs
auc = run.get("test", {}).get("auc")
print("%-30s %14d %14d %12d %12d %10.2f %8s" % (
    sys.argv[2], wire("plain_bytes_sent"), wire("bytes_sent"), wire("bytes_received"), wire("pushed_keys"),
    seconds, "%.4f" % auc if auc is not None else "n/a"))
PY
done
echo "runs: $work"
