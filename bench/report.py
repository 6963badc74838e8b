"""The write-up of one bench/run.py run: a markdown table with the ratios
and the targets of issue 5, a TSV of the figures, and a PNG chart drawn by
gnuplot. Called by run.py only."""

import datetime
import os
import platform
import shutil
import subprocess

CEILING, TOKEND, PEER = 0x888888, 0x1f6fb5, 0xe07b00
PEER_KEYS = ("glewlwyd", "oidc-provider")
# Rows grouped by what they measure, whatever order they ran in.
DISPLAY_ORDER = (
    "nginx", "tokend-sqlite", "tokend-sqlite-info", "tokend-sqlite-threads",
    "tokend-postgres", "glewlwyd", "oidc-provider", "refresh-sqlite",
    "refresh-sqlite-threads", "refresh-postgres", "refresh-postgres-threads",
    "check", "check-cache", "introspect")


def ordered(results):
    def rank(row):
        key = row["key"]
        return DISPLAY_ORDER.index(key) if key in DISPLAY_ORDER else 99
    return sorted(results, key=rank)


def version(command):
    try:
        done = subprocess.run(command, capture_output=True, text=True,
                              timeout=30)
    except OSError:
        return "not installed"
    text = (done.stdout + done.stderr).strip().splitlines()
    return text[0] if text else "?"


def source_state(root):
    """The commit the build was made from, and whether src/ differed from
    it; run.py asks when the run starts, right after the build."""
    commit = version(["git", "-C", root, "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", root, "status", "--porcelain",
                            "--", "src"], capture_output=True,
                           text=True).stdout.strip()
    return f"commit {commit}" + (" with uncommitted changes in src/"
                                 if dirty else "")


def machine_facts(bench):
    model = "?"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    facts = {
        "machine": f"{os.cpu_count()} cores, {model}, Linux "
        f"{platform.release()}",
        "tokend": bench.facts.pop("tokend", "?"),
        "wrk": version(["wrk", "-v"]),
        "nginx": version(["nginx", "-v"]),
        "glewlwyd": version(["glewlwyd", "--version"]),
        "node": version(["node", "--version"]),
        "SQLite": version(["sqlite3", "--version"]).split(" ")[0],
    }
    facts.update(bench.facts)
    return facts


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"


def fmt(value, digits=0):
    return f"{value:,.{digits}f}"


def main_table(bench):
    nginx = bench.row("nginx")
    nginx_rps = nginx["rps"] if nginx and "missing" not in nginx else None
    sign = bench.signing.get("ES256", {}).get("tokens_per_second")
    lines = [
        "| what | req/s | p50 ms | p99 ms | non-2xx (expected) | peak RSS MB "
        "| CPU µs/req | × nginx | × signing | notes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for algorithm, result in bench.signing.items():
        lines.append(
            f"| signing ceiling: jwt_sign {algorithm}, "
            f"{result['threads']} threads | "
            f"{fmt(result['tokens_per_second'])} tokens/s | | | | | "
            f"{result['cpu_us_per_token']:.1f} | "
            f"{ratio(result['tokens_per_second'], nginx_rps)} | "
            f"{ratio(result['tokens_per_second'], sign)} | "
            "tokend's signer alone, no HTTP |")
    for row in ordered(bench.results):
        if "missing" in row:
            lines.append(f"| {row['label']} | {row['missing']} "
                         "| | | | | | | | |")
            continue
        expected = (f" ({row['expected_non_2xx']})"
                    if row["expected_non_2xx"] else "")
        errors = (f"; {row['socket_errors']} socket errors"
                  if row["socket_errors"] else "")
        lines.append(
            f"| {row['label']} | {fmt(row['rps'])} | {row['p50_ms']:.2f} | "
            f"{row['p99_ms']:.2f} | {row['non_2xx']}{expected} | "
            f"{row['peak_rss_mb']:.1f} | {row['cpu_us']:.1f} | "
            f"{ratio(row['rps'], nginx_rps)} | "
            f"{ratio(row['rps'], sign) if row['issues_tokens'] else ''} | "
            f"{row['note']}{errors} |")
    return lines


def peer_table(bench):
    peers = [bench.row(key) for key in PEER_KEYS]
    peers = [peer for peer in peers if peer and "missing" not in peer]
    if not peers:
        return ["No peer was measured in this run."]
    lines = ["| tokend issuance | " + " | ".join(
        f"÷ {peer['label']} ({fmt(peer['rps'])}/s)" for peer in peers) + " |",
        "| --- |" + " ---: |" * len(peers)]
    for key in ("tokend-sqlite", "tokend-postgres", "refresh-sqlite",
                "refresh-postgres"):
        row = bench.row(key)
        if not row or "missing" in row:
            continue
        lines.append(f"| {row['label']} ({fmt(row['rps'])}/s) | " + " | ".join(
            f"{row['rps'] / peer['rps']:.1f}×" for peer in peers) + " |")
    return lines


def verdict(met):
    return "**met**" if met else "**missed**"


def targets_table(bench):
    rows = []
    issue = bench.row("tokend-sqlite")
    sign = bench.signing.get("ES256", {}).get("tokens_per_second")
    nginx = bench.row("nginx")
    check = bench.row("check")
    refresh = bench.row("refresh-sqlite")
    refresh_pg = bench.row("refresh-postgres")
    peers = [bench.row(key) for key in PEER_KEYS]
    peers = [peer for peer in peers if peer and "missing" not in peer]

    def ok(row):
        return row is not None and "missing" not in row

    if ok(issue) and sign:
        share = issue["rps"] / sign
        rows.append(("client_credentials ≥ 70% of the signing ceiling",
                     f"{share:.0%} ({fmt(issue['rps'])} of {fmt(sign)}/s)",
                     verdict(share >= 0.7)))
    if ok(issue) and peers:
        fastest = max(peers, key=lambda peer: peer["rps"])
        times = issue["rps"] / fastest["rps"]
        rows.append(("client_credentials ≥ 10× the fastest signing peer",
                     f"{times:.1f}× {fastest['label']}", verdict(times >= 10)))
    if ok(refresh):
        rows.append(("refresh_token ≥ 5,000/s on SQLite, rotation durable",
                     f"{fmt(refresh['rps'])}/s", verdict(refresh["rps"] >= 5000)))
    threads = bench.row("refresh-sqlite-threads")
    if ok(threads):
        rows.append(("the same with --threads 32 (a setting, no code change)",
                     f"{fmt(threads['rps'])}/s, p99 {threads['p99_ms']:.2f} ms",
                     verdict(threads["rps"] >= 5000)))
    threads_pg = bench.row("refresh-postgres-threads")
    if ok(threads_pg):
        rows.append(("refresh_token on PostgreSQL with --threads 32",
                     f"{fmt(threads_pg['rps'])}/s, p99 "
                     f"{threads_pg['p99_ms']:.2f} ms", "see SQLite"))
    if ok(refresh) and ok(refresh_pg):
        rows.append(("refresh_token on PostgreSQL more than on SQLite",
                     f"{fmt(refresh_pg['rps'])}/s",
                     verdict(refresh_pg["rps"] > refresh["rps"])))
    if ok(check) and ok(nginx):
        share = check["rps"] / nginx["rps"]
        rows.append(("/v2/auth/check ≥ 60% of the nginx ceiling",
                     f"{share:.0%} ({fmt(check['rps'])} of "
                     f"{fmt(nginx['rps'])}/s)", verdict(share >= 0.6)))
    bigger = bench.row("check-cache")
    if ok(bigger) and ok(nginx):
        share = bigger["rps"] / nginx["rps"]
        rows.append(("the same with --verified-token-cache 65536 (a setting)",
                     f"{share:.0%} ({fmt(bigger['rps'])}/s)",
                     verdict(share >= 0.6)))
    for row, limit in ((issue, 5), (refresh, 5), (check, 2)):
        if ok(row):
            rows.append((f"p99 < {limit} ms: {row['label']}",
                         f"{row['p99_ms']:.2f} ms",
                         verdict(row["p99_ms"] < limit)))
    idle = bench.facts.get("tokend idle RSS MB")
    if idle is not None:
        rows.append(("idle RSS < 16 MB (2 clients)", f"{idle:.1f} MB",
                     verdict(idle < 16)))
    scale = bench.row("scale")
    if ok(scale):
        rows.append(("peak RSS < 64 MB with 100,000 clients and 1,000,000 "
                     "refresh families", f"{scale['peak_rss_mb']:.1f} MB "
                     "under client_credentials load",
                     verdict(scale["peak_rss_mb"] < 64)))
        first = bench.facts.get("scale first answer ms")
        if first is not None:
            rows.append(("start to first answered request < 50 ms with "
                         "100,000 clients", f"{first:.0f} ms",
                         verdict(first < 50)))
    else:
        rows.append(("RSS < 64 MB and start < 50 ms with 100,000 clients "
                     "and 1,000,000 refresh families", "not measured", "-"))
    lines = ["| target (issue 5) | measured | |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return lines


def log_level_line(bench):
    warn, info = bench.row("tokend-sqlite"), bench.row("tokend-sqlite-info")
    if not warn or not info or "missing" in warn or "missing" in info:
        return []
    change = info["rps"] / warn["rps"] - 1
    return [f"Log level info instead of warn: {fmt(info['rps'])}/s instead of "
            f"{fmt(warn['rps'])}/s ({change:+.0%}), CPU "
            f"{info['cpu_us']:.1f} instead of {warn['cpu_us']:.1f} µs a "
            "request.", ""]


def commands(bench):
    lines = []
    for algorithm in bench.signing:
        lines.append(f"- signing ceiling {algorithm}: `build-bench/bench/"
                     f"bench_sign --seconds {bench.options.duration} "
                     f"--algorithm {algorithm}`")
    for row in bench.results:
        if "command" in row:
            lines.append(f"- {row['label']}: `{row['command']}`")
    return lines


def write_data(bench, path):
    rows = []
    for algorithm, result in bench.signing.items():
        rows.append((f"signing ceiling {algorithm} (tokens/s)",
                     result["tokens_per_second"], None, CEILING))
    for row in ordered(bench.results):
        if "missing" in row:
            continue
        color = CEILING if row["key"] == "nginx" else (
            PEER if row["key"] in PEER_KEYS else TOKEND)
        # The chart's label column is narrow; the table keeps the full text.
        label = row["label"]
        if "100,000 clients" in label:
            label = "tokend, SQLite, 100k clients, 1M families"
        rows.append((label, row["rps"], row["p99_ms"], color))
    with open(path, "w") as file:
        file.write("# label\treq/s\tp99 ms\tcolor\n")
        for label, rps, p99, color in rows:
            p99_text = f"{p99:.3f}" if p99 is not None else "?"
            file.write(f'"{label}"\t{rps:.1f}\t{p99_text}\t{color}\n')
    return len(rows)


def write_chart(data, count, png, title):
    if shutil.which("gnuplot") is None:
        return False
    height = 140 + 44 * count
    script = f"""
set terminal pngcairo size 1500,{height} font "DejaVu Sans,12" noenhanced
set output '{png}'
set datafile separator "\\t"
set datafile missing "?"
set multiplot title "{title}" font ",14"
unset key
set style fill solid 0.9 noborder
set yrange [{count} - 0.4:-0.6]
set logscale x
set grid xtics mxtics
set tmargin at screen {1 - 70 / height:.4f}
set bmargin at screen {40 / height:.4f}
set lmargin at screen 0.27
set rmargin at screen 0.66
set title "requests (tokens for the signer) per second, log scale: longer is better"
set xrange [5:1000000]
set format x "%.0s%c"
plot '{data}' using (sqrt($2*0.1)):0:(0.1):2:($0-0.36):($0+0.36):4:ytic(1) \\
        with boxxyerror lc rgb variable, \\
     '' using ($2*1.12):0:(sprintf("%.0f", $2)) with labels left font ",11"
set lmargin at screen 0.69
set rmargin at screen 0.98
set title "p99 latency in ms, log scale: shorter is better"
set xrange [0.05:30000]
set format x "%g"
set format y ""
plot '{data}' using (sqrt($3*0.01)):0:(0.01):3:($0-0.36):($0+0.36):4 \\
        with boxxyerror lc rgb variable, \\
     '' using ($3*1.12):0:(sprintf("%.2f", $3)) with labels left font ",11"
unset multiplot
"""
    done = subprocess.run(["gnuplot"], input=script, text=True,
                          capture_output=True, timeout=60,
                          env=dict(os.environ, LC_ALL="C.UTF-8"))
    if done.returncode != 0:
        raise RuntimeError(f"gnuplot failed: {done.stderr}")
    return True


def write_report(bench, micro, out, smoke=False):
    now = datetime.datetime.now(datetime.timezone.utc)
    stem = "smoke" if smoke else now.strftime("%Y-%m-%d")
    if not smoke and os.path.exists(os.path.join(out, f"{stem}.md")):
        stem = now.strftime("%Y-%m-%d-%H%M")  # a second run that day
    markdown = os.path.join(out, f"{stem}.md")
    data = os.path.join(out, f"{stem}.tsv")
    png = os.path.join(out, f"{stem}.png")
    count = write_data(bench, data)
    title = (f"make bench {now:%Y-%m-%d}: loopback, 32 connections, "
             f"keep-alive, {os.cpu_count()} cores shared with wrk.   "
             "grey: ceilings, blue: tokend, orange: peers")
    charted = write_chart(data, count, png, title)

    facts = machine_facts(bench)
    lines = [f"# make bench, {now:%Y-%m-%d %H:%M} UTC"
             + (" (smoke run: figures not meaningful)" if smoke else ""), "",
             f"wrk, {bench.options.duration} s a run after "
             f"{bench.options.warmup} s of warm-up, 32 connections, 2 wrk "
             "threads, keep-alive, 127.0.0.1; the load generator shares the "
             "machine with the server. Ratios are within this run only.", ""]
    lines += main_table(bench) + [""]
    lines += log_level_line(bench)
    lines += ["## tokend against the peers", ""] + peer_table(bench) + [""]
    lines += ["## Targets", ""] + targets_table(bench) + [""]
    if charted:
        lines += ["## Chart", "", f"![chart]({os.path.basename(png)})", ""]
    lines += ["## Micro-benchmark (bench_micro, ns per operation, one core)",
              "", micro.strip(), ""]
    lines += ["## The run", ""]
    lines += [f"- {key}: {value:.1f}" if isinstance(value, float)
              else f"- {key}: {value}" for key, value in facts.items()]
    lines += [""]
    lines += ["## Commands", ""] + commands(bench) + [""]
    text = "\n".join(lines)
    with open(markdown, "w") as file:
        file.write(text)
    written = [markdown, data] + ([png] if charted else [])
    if not smoke:
        with open(os.path.join(out, "latest.md"), "w") as file:
            file.write(text.replace(f"]({os.path.basename(png)})",
                                    "](latest.png)"))
        written.append(os.path.join(out, "latest.md"))
        if charted:
            shutil.copyfile(png, os.path.join(out, "latest.png"))
            written.append(os.path.join(out, "latest.png"))
    return written
