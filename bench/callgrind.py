#!/usr/bin/env python3
"""make bench-callgrind: runs bench_micro --callgrind under valgrind's
callgrind, which dumps its counters once a case (zeroed before it), and
prints the instructions per operation of each case. Instruction counts do
not depend on the machine's load, so they show a change where ns/op is
noise.

usage: bench/callgrind.py BUILD_FOLDER
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    micro = os.path.join(sys.argv[1], "bench", "bench_micro")
    if shutil.which("valgrind") is None:
        sys.exit("bench: valgrind is missing: run make test-deps")
    folder = tempfile.mkdtemp(prefix="tokend-callgrind-")
    try:
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", "--collect-atstart=yes",
             f"--callgrind-out-file={folder}/callgrind.out", micro,
             "--callgrind"], capture_output=True, text=True, timeout=1200)
        if done.returncode != 0:
            sys.exit(f"bench: callgrind failed:\n{done.stderr[-2000:]}")
        iterations = int(re.search(r"iterations=(\d+)", done.stdout)[1])
        rows = []
        for path in glob.glob(f"{folder}/callgrind.out*"):
            with open(path) as dump:
                text = dump.read()
            name = re.search(r"^desc: Trigger: Client Request: (.*)$", text,
                             re.M)
            total = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
            if name and total:
                part = int(re.search(r"^part: (\d+)", text, re.M)[1]) \
                    if re.search(r"^part: (\d+)", text, re.M) else 0
                rows.append((part, name[1], int(total[1]) / iterations))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print("| function | instructions/op |\n| --- | ---: |")
    for _, name, per_op in sorted(rows):
        print(f"| {name} | {per_op:,.0f} |")


if __name__ == "__main__":
    main()
