#!/usr/bin/env python3
"""Where a tokend request's CPU goes: starts tokend (SQLite) as make bench
does, loads it with one of make bench's wrk scripts, samples it with
perf (the cpu-clock event, which works inside a VM without hardware
counters) for the duration of the load, and prints the share of each
library and the hottest functions. docs/performance.md quotes its output.

usage: bench/profile.py [--build DIR] [--seconds N] issue|refresh|check|introspect
"""

import argparse
import os
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402


def report(data, sort, limit):
    text = subprocess.run(
        ["perf", "report", "-i", data, "--no-children", "--sort", sort,
         "--stdio", "--percent-limit", "0.7"], capture_output=True,
        text=True, timeout=300).stdout
    lines = [line.rstrip() for line in text.splitlines()
             if line.strip() and not line.startswith("#")
             and "%" in line.split()[0]]
    return "\n".join(lines[:limit])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=os.path.join(run.ROOT,
                                                        "build-bench"))
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("what", choices=("issue", "refresh", "check",
                                         "introspect"))
    options = parser.parse_args()
    options.smoke, options.duration, options.warmup = False, options.seconds, 1

    bench = run.Bench(options)
    try:
        bench.setup_tokend_store()
        credentials = bench.credentials
        script, path, arguments = {
            "issue": ("post.lua", "/v2/auth/token",
                      [run.CC_BODY, credentials["client"]]),
            "check": ("check.lua", "/v2/auth/check",
                      [bench.valid_file, bench.invalid_file]),
            "introspect": ("introspect.lua", "/v2/auth/introspect",
                           [bench.valid_file, credentials["introspector"]]),
            "refresh": ("refresh.lua", "/v2/auth/token", None),
        }[options.what]
        if options.what == "refresh":
            server = bench.start_tokend("mint", bench.store)
            refresh, _ = bench.mint(server, credentials["client"],
                                    20000 * (options.seconds + 1),
                                    os.path.join(bench.work, "profile"))
            bench.stop(server)
            prefix = os.path.join(bench.work, "profile.run")
            for n in range(run.WRK_THREADS):
                with open(f"{prefix}.{n}", "w") as file:
                    file.write("\n".join(refresh[n::run.WRK_THREADS]) + "\n")
            arguments = [prefix, credentials["client"]]

        server = bench.start_tokend("tokend", bench.store)
        data = os.path.join(bench.work, "perf.data")
        url = f"http://127.0.0.1:{server.port}{path}"
        if options.what != "refresh":
            run.wrk(script, url, arguments, 1)
        perf = subprocess.Popen(
            ["perf", "record", "-e", "cpu-clock", "-F", "1999", "-o", data,
             "-p", str(server.process.pid), "--", "sleep",
             str(options.seconds)], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        result = {}
        load = threading.Thread(target=lambda: result.update(run.wrk(
            script, url, arguments, options.seconds)))
        load.start()
        perf.wait()
        load.join()
        print(f"# {options.what}: {result['requests'] / options.seconds:.0f}"
              f" req/s under perf, non-2xx {result['non_2xx']}")
        print("\n## by library\n")
        print(report(data, "dso", 15))
        print("\n## by function\n")
        print(report(data, "dso,symbol", 40))
    finally:
        bench.cleanup()


if __name__ == "__main__":
    main()
