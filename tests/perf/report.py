#!/usr/bin/env python3
"""Turns run.sh's raw results (one line per wrk run) into the benchmark table.

Each figure is the median over the repetitions; every cell also gives the ratio to nginx and
to the direct path for the same scenario. Prints the report and, with --out, writes it.
"""

import argparse
import statistics
import sys

SCENARIOS = {
    "a": "(a) GET /v2/api/users, closed loop",
    "b": "(b) POST /v2/api/dialing-queues/current, closed loop",
    "c": "(c) POST /v2/api/dialing-queues/current, fixed rate",
}
PEER_NAMES = {
    "direct": "direct (upstream alone)",
    "nginx": "nginx, 1 worker",
    "haproxy": "HAProxy, 1 thread",
    "gateway": "allo-gateway",
    "gateway-info": "allo-gateway, info access log",
}
PEER_ORDER = ["direct", "nginx", "haproxy", "gateway", "gateway-info"]
# (key, header, smaller is better)
METRICS = [
    ("rps", "req/s", False),
    ("p50", "p50", True),
    ("p99", "p99", True),
    ("p999", "p99.9", True),
    ("cpu", "CPU µs/req", True),
    ("rss", "peak RSS MiB", True),
]


def parse(path):
    runs = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            scenario, peer, rep, rest = line.split("\t", 3)
            fields = dict(kv.split("=", 1) for kv in rest.split())
            num = {k: float(v) for k, v in fields.items()}
            requests = num["requests"]
            seconds = num["duration_us"] / 1e6
            errors = sum(num[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))
            run = {
                "scenario": scenario,
                "peer": peer,
                "rep": int(rep),
                "requests": requests,
                "rps": requests / seconds if seconds else 0.0,
                "p50": num["p50"],
                "p99": num["p99"],
                "p999": num["p999"],
                "cpu": num["cpu_ticks"] / num["clk_tck"] * 1e6 / requests if requests else 0.0,
                "rss": num["rss_kib"] / 1024,
                "errors": errors,
                "late": num.get("late", 0.0),
                "sent": num.get("sent", 0.0),
                "unmatched": num.get("unmatched", 0.0),
                "wrk_p50": num.get("wrk_p50"),
                "wrk_p99": num.get("wrk_p99"),
            }
            runs.append(run)
    return runs


def fmt_latency(us):
    ms = us / 1000
    if ms >= 10:
        return f"{ms:.1f} ms"
    if ms >= 1:
        return f"{ms:.2f} ms"
    return f"{ms:.3f} ms"


def fmt_value(key, v):
    if key == "rps":
        return f"{v:,.0f}"
    if key in ("p50", "p99", "p999"):
        return fmt_latency(v)
    if key == "cpu":
        return f"{v:.1f}"
    return f"{v:.1f}"


def fmt_ratio(v, ref):
    if ref is None or ref == 0:
        return "–"
    r = v / ref
    return f"{r:.2f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("--out")
    for name in (
        "nproc", "cpu", "commit", "date", "duration", "rate-duration", "reps", "rate", "conns",
        "threads", "upstream-threads", "gateway-workers", "load-before", "load-after", "elapsed",
        "gateway-idle-rss-kib", "versions",
    ):
        ap.add_argument("--" + name, default="?")
    a = ap.parse_args()

    runs = parse(a.raw)
    med = {}  # (scenario, peer) -> {metric: median}
    spread = {}  # (scenario, peer) -> rps (min, max) relative to median
    errors = {}
    extra = {}
    for s in SCENARIOS:
        for p in PEER_ORDER:
            rs = [r for r in runs if r["scenario"] == s and r["peer"] == p]
            if not rs:
                continue
            m = {k: statistics.median(r[k] for r in rs) for k, _, _ in METRICS}
            m["rss"] = max(r["rss"] for r in rs)  # peak over the whole benchmark
            med[(s, p)] = m
            rps = [r["rps"] for r in rs]
            spread[(s, p)] = (min(rps) / m["rps"] - 1, max(rps) / m["rps"] - 1) if m["rps"] else (0, 0)
            errors[(s, p)] = sum(r["errors"] for r in rs)
            extra[(s, p)] = {
                "late": sum(r["late"] for r in rs),
                "sent": sum(r["sent"] for r in rs),
                "unmatched": sum(r["unmatched"] for r in rs),
                "wrk_p50": statistics.median(r["wrk_p50"] for r in rs) if rs[0]["wrk_p50"] is not None else None,
                "wrk_p99": statistics.median(r["wrk_p99"] for r in rs) if rs[0]["wrk_p99"] is not None else None,
            }

    out = []
    w = out.append
    w(f"Run {a.date} at commit {a.commit}; `nproc` = {a.nproc} ({a.cpu}), loopback, shared by wrk, "
      f"the proxy and the upstream; nothing pinned.")
    w(f"wrk -t {a.threads} -c {a.conns}; closed-loop runs {a.duration} s, fixed-rate runs {a.rate_duration} s at "
      f"{int(float(a.rate)):,} req/s; median of {a.reps} repetitions, peers alternated; upstream: "
      f"tests/perf/upstream.rs, {a.upstream_threads} thread(s); gateway --workers {a.gateway_workers}; "
      f"{a.versions}.")
    w("")
    w("Each cell: value (÷ nginx / ÷ direct). CPU is the proxy's user+system time over the run "
      "divided by requests served; peak RSS is VmHWM (nginx: master + worker). In the direct rows "
      "CPU and RSS are the upstream's own, for scale.")
    w("")
    header = "| scenario | peer | " + " | ".join(h for _, h, _ in METRICS) + " |"
    w(header)
    w("|" + "---|" * (len(METRICS) + 2))
    for s, title in SCENARIOS.items():
        first = True
        for p in PEER_ORDER:
            if (s, p) not in med:
                continue
            m = med[(s, p)]
            ng = med.get((s, "nginx"))
            di = med.get((s, "direct"))
            cells = []
            for key, _, _ in METRICS:
                v = m[key]
                cells.append(
                    f"{fmt_value(key, v)} ({fmt_ratio(v, ng[key] if ng else None)} / {fmt_ratio(v, di[key] if di else None)})"
                )
            flag = " ⚠ errors" if errors[(s, p)] else ""
            w(f"| {title if first else ''} | {PEER_NAMES.get(p, p)}{flag} | " + " | ".join(cells) + " |")
            first = False
    w("")

    # What the ratios say, in one place.
    lines = []
    for s in ("a", "b"):
        g, n, d = med.get((s, "gateway")), med.get((s, "nginx")), med.get((s, "direct"))
        if g and n and d:
            lines.append(
                f"- {SCENARIOS[s][:3]}: the gateway serves {g['rps'] / d['rps']:.2f} of the direct path's "
                f"throughput (nginx {n['rps'] / d['rps']:.2f}), {g['rps'] / n['rps']:.2f}× nginx's, at "
                f"{g['cpu']:.1f} µs of CPU per request ({g['cpu'] / n['cpu']:.2f}× nginx's {n['cpu']:.1f} µs)."
            )
    g, n = med.get(("c", "gateway")), med.get(("c", "nginx"))
    if g and n:
        lines.append(
            f"- (c): at a fixed {int(float(a.rate)):,} req/s the gateway adds p50 {fmt_latency(g['p50'])} / p99 "
            f"{fmt_latency(g['p99'])} end to end (nginx {fmt_latency(n['p50'])} / {fmt_latency(n['p99'])}), "
            f"at {g['cpu']:.1f} µs CPU per request (nginx {n['cpu']:.1f})."
        )
    gi, ga = med.get(("a", "gateway-info")), med.get(("a", "gateway"))
    if gi and ga:
        lines.append(
            f"- Access logging at info (one JSON line per request, to a file) costs "
            f"{gi['cpu'] - ga['cpu']:+.1f} µs CPU per request ({gi['cpu'] / ga['cpu'] - 1:+.0%}) and "
            f"{gi['rps'] / ga['rps'] - 1:+.0%} throughput on (a)."
        )
    peak = max((m["rss"] for (s, p), m in med.items() if p.startswith("gateway")), default=None)
    if peak is not None:
        try:
            idle = f"{float(a.gateway_idle_rss_kib) / 1024:.1f} MiB right after start"
        except ValueError:
            idle = "?"
        lines.append(f"- Gateway peak RSS over the whole benchmark: {peak:.1f} MiB ({idle}).")
    if lines:
        w("Summary:")
        w("")
        out.extend(lines)
        w("")

    # Noise.
    w(f"Noise: load average {a.load_before} before, {a.load_after} after; measurement took {a.elapsed} s.")
    worst = max(
        ((max(abs(lo), abs(hi)), s, p) for (s, p), (lo, hi) in spread.items()),
        default=(0, "", ""),
    )
    w(f"Throughput spread across repetitions (min..max around the median), worst: "
      f"{worst[0]:.0%} ({worst[1]}, {worst[2]}).")
    for s in SCENARIOS:
        per_rep = {}
        for r in runs:
            if r["scenario"] == s and r["peer"] in ("gateway", "nginx"):
                per_rep.setdefault(r["rep"], {})[r["peer"]] = r["rps"]
        ratios = [v["gateway"] / v["nginx"] for v in per_rep.values() if "gateway" in v and "nginx" in v and v["nginx"]]
        if ratios:
            w(f"- {s}: gateway ÷ nginx req/s per repetition: " + ", ".join(f"{x:.2f}" for x in ratios)
              + "; rps spread " + ", ".join(
                  f"{p} {spread[(s, p)][0]:+.0%}..{spread[(s, p)][1]:+.0%}" for p in PEER_ORDER if (s, p) in spread))
    fixed = [(p, e) for (s, p), e in extra.items() if s == "c"]
    if fixed:
        w("- (c) pacing: sends more than 2 ms behind their slot (charged from the slot): " + ", ".join(
            f"{p} {e['late'] / e['sent']:.1%}" if e["sent"] else f"{p} –" for p, e in fixed)
          + "; wrk's own uncorrected p50/p99: " + ", ".join(
            f"{p} {fmt_latency(e['wrk_p50'])}/{fmt_latency(e['wrk_p99'])}" for p, e in fixed if e["wrk_p50"] is not None)
          + ".")
    bad = [f"{s}/{p}: {int(e)}" for (s, p), e in errors.items() if e]
    w("- Errors (socket errors, timeouts, non-2xx): " + (", ".join(bad) if bad else "none") + ".")
    text = "\n".join(out) + "\n"

    print(text, end="")
    if a.out:
        with open(a.out, "w") as f:
            f.write("# Benchmark results\n\n")
            f.write("Latest run of `tests/perf/run.sh` (see README, Performance). The claim is the ratios; "
                    "absolute numbers depend on the machine and on what else it was doing.\n\n")
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
