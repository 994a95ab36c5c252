"""Vowpal Wabbit's side of zps-bench's `cost` scenario (bench/README.md).

    python vowpal_wabbit.py convert CRITEO.tsv OUT.vw
        Criteo TSV as Vowpal Wabbit text, feature for feature as zps's CriteoFormat hashes it: one
        token per field with value 1, `Ij=bucket` (floor(ln(v)^2) for v > 2, v otherwise, NA when
        empty) and `Cj=value`; labels 1 and -1.
    python vowpal_wabbit.py train TRAIN.vw MODEL CACHE BITS PASSES ALPHA BETA L1 L2
        FTRL-Proximal with logistic loss over every row (no hold-out), PASSES passes (the first
        reads the text and writes VW's cache, the others read the cache); prints one JSON object
        with the wall and CPU seconds from the start of parsing to the model written.
    python vowpal_wabbit.py test TEST.vw MODEL PREDICTIONS
        Writes the click probability of every test row, one per line.
"""
import json
import math
import resource
import sys
import time


def convert(source, destination):
    with open(source, "rb") as rows, open(destination, "wb") as out:
        for number, line in enumerate(rows, 1):
            fields = line.rstrip(b"\r\n").split(b"\t")
            if len(fields) != 40:
                sys.exit(f"{source}:{number}: expected 40 tab-separated fields, found {len(fields)}")
            if fields[0] not in (b"0", b"1"):
                sys.exit(f"{source}:{number}: field 1 (label): expected 0 or 1, found {fields[0]!r}")
            tokens = []
            for index in range(1, 14):
                text = fields[index]
                if not text:
                    tokens.append(b"I%d=NA" % index)
                    continue
                value = int(text)
                if value > 2:
                    logarithm = math.log(value)
                    value = math.floor(logarithm * logarithm)
                tokens.append(b"I%d=%d" % (index, value))
            for index in range(14, 40):
                # ':', '|' and spaces have a meaning in VW's text format.
                value = fields[index].replace(b":", b";").replace(b"|", b"/").replace(b" ", b"_")
                tokens.append(b"C%d=%s" % (index - 13, value))
            out.write((b"1" if fields[0] == b"1" else b"-1") + b" |f " + b" ".join(tokens) + b"\n")


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def train(data, model, cache, bits, passes, alpha, beta, l1, l2):
    from vowpalwabbit import Workspace

    arguments = (
        f"--data {data} --cache_file {cache} --kill_cache --passes {passes} --holdout_off -b {bits} "
        f"--loss_function logistic --ftrl --ftrl_alpha {alpha} --ftrl_beta {beta} --l1 {l1} --l2 {l2} "
        f"-f {model} --quiet"
    )
    wall, cpu = time.perf_counter(), cpu_seconds()
    workspace = Workspace(arguments)
    workspace.finish()
    print(json.dumps({
        "wall_seconds": time.perf_counter() - wall, "cpu_seconds": cpu_seconds() - cpu, "arguments": arguments,
    }))


def test(data, model, predictions):
    from vowpalwabbit import Workspace

    Workspace(f"-t -i {model} --data {data} -p {predictions} --link logistic --quiet").finish()


if __name__ == "__main__":
    command, arguments = sys.argv[1], sys.argv[2:]
    {"convert": convert, "train": train, "test": test}[command](*arguments)
