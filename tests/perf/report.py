#!/usr/bin/env python3
"""Turns the raw results of run.sh or scaling.sh (one line per wrk run) into Markdown tables.

run.sh (default mode): one table per layout for (a)–(c) and one for (d). Each cell is the
median over the repetitions, its ratio to nginx in the same layout and run, and the spread
(min–max over the repetitions). Then the gateway's RSS per extra worker, and the noise.

scaling.sh (--scaling): req/s and CPU per request of the gateway and nginx per worker count.

Raw lines: LAYOUT <tab> SCENARIO <tab> PEER <tab> REP <tab> key=value ...
SCENARIO is a–d for a wrk run, `idle` for a peer's idle RSS, `meta` for the layout's settings.
Prints the report and, with --out, writes it.
"""

import argparse
import statistics
import sys

SCENARIOS = {
    "a": "(a) GET /v2/api/users, closed loop",
    "b": "(b) POST /v2/api/dialing-queues/current, closed loop",
    "c": "(c) POST /v2/api/dialing-queues/current, fixed rate",
}
D_TITLE = "(d) GET /v2/api/users to an HTTPS upstream, closed loop"
PEER_ORDER = ["direct", "nginx", "haproxy", "gateway", "gateway-info"]
D_PEERS = {
    "nginx": ("nginx", "HTTP/1.1 (nginx speaks only HTTP/1.1 upstream)"),
    "gateway-h1": ("allo-gateway", "HTTP/1.1 (the upstream offers only http/1.1)"),
    "gateway-h2": ("allo-gateway", "HTTP/2 (the upstream offers h2)"),
}
# (key, header); smaller is better for all but rps.
METRICS = [
    ("rps", "req/s"),
    ("p50", "p50"),
    ("p99", "p99"),
    ("p999", "p99.9"),
    ("cpu", "CPU µs/req"),
]
D_METRICS = [("rps", "req/s"), ("p99", "p99"), ("cpu", "CPU µs/req")]


def number(v):
    try:
        return float(v)
    except ValueError:
        return v


def parse(path):
    runs, idle, meta = [], {}, {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            layout, scenario, peer, rep, rest = line.split("\t", 4)
            raw = dict(kv.split("=", 1) for kv in rest.split())
            if scenario == "meta":  # kept as text: CPU lists such as "0" or "0-3"
                meta[layout] = raw
                continue
            fields = {k: number(v) for k, v in raw.items()}
            if scenario == "idle":
                idle[(layout, peer)] = fields
                continue
            requests = fields["requests"]
            seconds = fields["duration_us"] / 1e6
            errors = sum(fields[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))
            runs.append({
                "layout": layout,
                "scenario": scenario,
                "peer": peer,
                "rep": int(rep),
                "rps": requests / seconds if seconds else 0.0,
                "p50": fields["p50"],
                "p99": fields["p99"],
                "p999": fields["p999"],
                "cpu": fields["cpu_ticks"] / fields["clk_tck"] * 1e6 / requests if requests else 0.0,
                "rss": fields["rss_kib"] / 1024,
                "errors": errors,
                "late": fields.get("late", 0.0),
                "sent": fields.get("sent", 0.0),
                "wrk_p50": fields.get("wrk_p50"),
                "wrk_p99": fields.get("wrk_p99"),
                "upstream_conns": fields.get("upstream_conns"),
                "upstream_conns_total": fields.get("upstream_conns_total"),
                "upstream_cpu": (fields["upstream_cpu_ticks"] / fields["clk_tck"] * 1e6 / requests
                                 if requests and "upstream_cpu_ticks" in fields else None),
                "cpus": fields.get("cpus"),
                "shared": fields.get("shared"),
            })
    return runs, idle, meta


def fmt_latency(us):
    ms = us / 1000
    if ms >= 10:
        return f"{ms:.1f} ms"
    if ms >= 1:
        return f"{ms:.2f} ms"
    return f"{ms:.3f} ms"


def fmt_bare_latency(us):
    return fmt_latency(us).removesuffix(" ms")


def fmt_value(key, v):
    if key == "rps":
        return f"{v:,.0f}"
    if key in ("p50", "p99", "p999"):
        return fmt_latency(v)
    return f"{v:.1f}"


def fmt_range(key, lo, hi):
    if key in ("p50", "p99", "p999"):
        return f"{fmt_bare_latency(lo)}–{fmt_bare_latency(hi)}"
    return f"{fmt_value(key, lo)}–{fmt_value(key, hi)}"


def fmt_ratio(v, ref):
    if not ref:
        return "–"
    return f"{v / ref:.2f}"


class Stats:
    """Median, min and max of every metric over one (layout, scenario, peer)'s repetitions."""

    def __init__(self, rs):
        self.n = len(rs)
        self.med = {k: statistics.median(r[k] for r in rs) for k in ("rps", "p50", "p99", "p999", "cpu", "rss")}
        self.lo = {k: min(r[k] for r in rs) for k in self.med}
        self.hi = {k: max(r[k] for r in rs) for k in self.med}
        self.peak_rss = max(r["rss"] for r in rs)
        self.errors = sum(r["errors"] for r in rs)
        self.late = sum(r["late"] for r in rs)
        self.sent = sum(r["sent"] for r in rs)
        self.wrk_p50 = statistics.median(r["wrk_p50"] for r in rs) if rs[0]["wrk_p50"] is not None else None
        self.wrk_p99 = statistics.median(r["wrk_p99"] for r in rs) if rs[0]["wrk_p99"] is not None else None
        conns = [r["upstream_conns"] for r in rs if r["upstream_conns"] is not None]
        self.upstream_conns = sum(conns) if conns else None
        totals = [r["upstream_conns_total"] for r in rs if r["upstream_conns_total"] is not None]
        self.upstream_conns_total = max(totals) if totals else None
        upstream_cpu = [r["upstream_cpu"] for r in rs if r["upstream_cpu"] is not None]
        self.upstream_cpu = statistics.median(upstream_cpu) if upstream_cpu else None

    def cell(self, key, ref):
        v = self.med[key]
        ratio = f" ×{fmt_ratio(v, ref.med[key])}" if ref is not None else ""
        spread = f" [{fmt_range(key, self.lo[key], self.hi[key])}]" if self.n > 1 else ""
        return f"{fmt_value(key, v)}{ratio}{spread}"


def group(runs):
    out = {}
    for r in runs:
        out.setdefault((r["layout"], r["scenario"], r["peer"]), []).append(r)
    return {k: Stats(v) for k, v in out.items()}


def mib(kib):
    return f"{kib / 1024:.1f}"


def layout_title(layout, meta):
    if layout == "1":
        return "Layout 1: one worker each (nginx `worker_processes 1`, HAProxy `nbthread 1`, gateway `--workers 1`)"
    workers = meta.get("workers", "?")
    gateway = "no `--workers` (its default)" if meta.get("gateway_workers") == "default" else f"`--workers {workers}`"
    name = "nproc" if layout == "nproc" else layout
    return (f"Layout {name}: {workers} workers each (nginx `worker_processes {workers}`, "
            f"HAProxy `nbthread {workers}`, gateway {gateway})")


def report_layout(w, layout, stats, idle, meta, rate):
    m = meta.get(layout, {})
    w(f"## {layout_title(layout, m)}")
    w("")
    if m:
        w(f"wrk -t {m['wrk_threads']}; upstream {m['upstream_threads']} thread(s); load average "
          f"{m['load_before'].replace(',', ' ')} before, {m['load_after'].replace(',', ' ')} after; "
          f"measured in {m['elapsed']} s.")
        w("")
    w("| scenario | peer | " + " | ".join(h for _, h in METRICS) + " | idle RSS MiB | peak RSS MiB |")
    w("|" + "---|" * (len(METRICS) + 4))
    for s, title in SCENARIOS.items():
        first = True
        ref = stats.get((layout, s, "nginx"))
        for p in PEER_ORDER:
            st = stats.get((layout, s, p))
            if st is None:
                continue
            cells = [st.cell(k, ref) for k, _ in METRICS]
            idle_rss = idle.get((layout, p), {}).get("rss_kib")
            cells.append(mib(idle_rss) if idle_rss is not None else "–")
            cells.append(f"{st.peak_rss:.1f}")
            flag = " ⚠ errors" if st.errors else ""
            w(f"| {title if first else ''} | {peer_name(p, m)}{flag} | " + " | ".join(cells) + " |")
            first = False
    w("")

    if any(k[0] == layout and k[1] == "d" for k in stats):
        w(f"{D_TITLE}: each peer forwards to its own perf upstream over TLS; \"upstream connections\" "
          "counts the connections that upstream accepted during the measured runs (all repetitions; "
          "0 = every request went over connections opened before) and since start (warm-up and "
          "checks included). wrk closes its connections with requests still in flight at the end of "
          "each run: a proxy that drops the upstream connections of abandoned requests opens them "
          "again in the next run. \"Upstream CPU\" is that upstream's own user+system time per "
          "request: all peers share the machine's cores, so what the upstream spends on the "
          "protocol it is spoken to in (h2 costs it more than HTTP/1.1) is not left for the proxy.")
        w("")
        w("| peer | upstream protocol | " + " | ".join(h for _, h in D_METRICS)
          + " | upstream CPU µs/req | upstream connections (runs / since start) | idle RSS MiB |")
        w("|" + "---|" * (len(D_METRICS) + 5))
        ref = stats.get((layout, "d", "nginx"))
        for p, (name, proto) in D_PEERS.items():
            st = stats.get((layout, "d", p))
            if st is None:
                continue
            conns = "–" if st.upstream_conns is None else f"{int(st.upstream_conns)} / {int(st.upstream_conns_total)}"
            idle_rss = idle.get((layout, p), {}).get("rss_kib")
            flag = " ⚠ errors" if st.errors else ""
            up_cpu = "–" if st.upstream_cpu is None else f"{st.upstream_cpu:.1f}"
            w(f"| {name}{flag} | {proto} | " + " | ".join(st.cell(k, ref) for k, _ in D_METRICS)
              + f" | {up_cpu} | {conns} | {mib(idle_rss) if idle_rss is not None else '–'} |")
        w("")

    lines = []
    for s in ("a", "b"):
        g, n, d = (stats.get((layout, s, p)) for p in ("gateway", "nginx", "direct"))
        if g and n:
            share = f"{g.med['rps'] / d.med['rps']:.2f} of the direct path's throughput (nginx {n.med['rps'] / d.med['rps']:.2f}), " if d else ""
            lines.append(
                f"- {s}: the gateway serves {share}{g.med['rps'] / n.med['rps']:.2f}× nginx's requests/s, at "
                f"{g.med['cpu']:.1f} µs of CPU per request ({g.med['cpu'] / n.med['cpu']:.2f}× nginx's {n.med['cpu']:.1f} µs)."
            )
    g, n = stats.get((layout, "c", "gateway")), stats.get((layout, "c", "nginx"))
    if g and n:
        lines.append(
            f"- c: at a fixed {int(float(rate)):,} req/s the gateway's p50 / p99 end to end are "
            f"{fmt_latency(g.med['p50'])} / {fmt_latency(g.med['p99'])} (nginx {fmt_latency(n.med['p50'])} / "
            f"{fmt_latency(n.med['p99'])}), at {g.med['cpu']:.1f} µs CPU per request (nginx {n.med['cpu']:.1f})."
        )
    n = stats.get((layout, "d", "nginx"))
    for p in ("gateway-h1", "gateway-h2"):
        g = stats.get((layout, "d", p))
        if g and n:
            lines.append(
                f"- d, gateway over {'HTTP/2' if p.endswith('h2') else 'HTTP/1.1'}: {g.med['rps'] / n.med['rps']:.2f}× "
                f"nginx's requests/s, {g.med['cpu'] / n.med['cpu']:.2f}× its CPU per request."
            )
    gi, ga = stats.get((layout, "a", "gateway-info")), stats.get((layout, "a", "gateway"))
    if gi and ga:
        lines.append(
            f"- Access logging at info costs {gi.med['cpu'] - ga.med['cpu']:+.1f} µs CPU per request "
            f"({gi.med['cpu'] / ga.med['cpu'] - 1:+.0%}) and {gi.med['rps'] / ga.med['rps'] - 1:+.0%} throughput on (a)."
        )
    if lines:
        w("Summary:")
        w("")
        for line in lines:
            w(line)
        w("")


def peer_name(p, meta):
    workers = meta.get("workers") if meta else None
    if p == "direct":
        return "direct (upstream alone)"
    if p == "nginx":
        return f"nginx, {workers} worker(s)" if workers else "nginx"
    if p == "haproxy":
        return f"HAProxy, {workers} thread(s)" if workers else "HAProxy"
    if p == "gateway":
        return "allo-gateway"
    if p == "gateway-info":
        return "allo-gateway, info access log"
    return p


def report_memory(w, idle, meta):
    layouts = sorted({layout for layout, _ in idle}, key=lambda x: (x != "1", x))
    many = [x for x in layouts if x != "1" and int(meta.get(x, {}).get("workers", 1)) > 1]
    if "1" not in layouts or not many:
        return
    w("## Idle RSS per extra worker")
    w("")
    w("(RSS at N workers − RSS at 1) / (N − 1), measured right after start, before any request. "
      "nginx and HAProxy count every process (nginx: master + workers; shared pages count once per "
      "process); the gateway is one process.")
    w("")
    w("| peer | idle RSS at 1 MiB | " + " | ".join(f"at {int(meta[x]['workers'])} MiB | per extra worker MiB" for x in many) + " |")
    w("|" + "---|" * (2 + 2 * len(many)))
    for p in ("gateway", "nginx", "haproxy"):
        one = idle.get(("1", p), {}).get("rss_kib")
        if one is None:
            continue
        cells = []
        for x in many:
            at = idle.get((x, p), {}).get("rss_kib")
            n = int(meta[x]["workers"])
            if at is None:
                cells += ["–", "–"]
            else:
                cells += [mib(at), f"{(at - one) / 1024 / (n - 1):.2f}"]
        w(f"| {peer_name(p, {})} | {mib(one)} | " + " | ".join(cells) + " |")
    w("")


def report_noise(w, runs, stats):
    w("## Noise")
    w("")
    for layout in dict.fromkeys(r["layout"] for r in runs):
        for s in list(SCENARIOS) + ["d"]:
            per_rep = {}
            for r in runs:
                if r["layout"] == layout and r["scenario"] == s:
                    per_rep.setdefault(r["rep"], {})[r["peer"]] = r
            gateways = ["gateway"] if s != "d" else ["gateway-h1", "gateway-h2"]
            # Each repetition runs the peers one after the other, so a pair shares the machine's
            # state of the moment; the median of the pairs' ratios is printed beside them.
            for g in gateways:
                for key, label in D_METRICS:
                    if s == "c" and key == "rps":
                        continue  # fixed rate: the same for every peer
                    ratios = [v[g][key] / v["nginx"][key] for v in per_rep.values()
                              if g in v and "nginx" in v and v["nginx"][key]]
                    if ratios:
                        w(f"- layout {layout}, {s}: {g} ÷ nginx {label} per repetition: "
                          + ", ".join(f"{x:.2f}" for x in ratios)
                          + f" (median of the pairs {statistics.median(ratios):.2f}).")
        fixed = [(p, st) for (lay, s, p), st in stats.items() if lay == layout and s == "c"]
        if fixed:
            w(f"- layout {layout}, c pacing: sends more than 2 ms behind their slot (charged from the slot): " + ", ".join(
                f"{p} {st.late / st.sent:.1%}" if st.sent else f"{p} –" for p, st in fixed)
              + "; wrk's own uncorrected p50/p99: " + ", ".join(
                f"{p} {fmt_latency(st.wrk_p50)}/{fmt_latency(st.wrk_p99)}" for p, st in fixed if st.wrk_p50 is not None)
              + ".")
    bad = [f"{lay}/{s}/{p}: {int(st.errors)}" for (lay, s, p), st in stats.items() if st.errors]
    w("- Errors (socket errors, timeouts, non-2xx): " + (", ".join(bad) if bad else "none") + ".")
    w("")


def smoke_warning(w, a):
    """A run too short to mean anything says so at the top, so its figures are not quoted."""
    try:
        short = float(a.duration) < 5 or int(a.reps) < 3
    except ValueError:
        return
    if short:
        w(f"**Smoke run** ({a.duration} s per run, {a.reps} repetition(s)): it shows the harness works; "
          "its figures are too short-lived to compare anything.")
        w("")


def run_report(a):
    runs, idle, meta = parse(a.raw)
    stats = group(runs)
    out = []
    w = out.append
    smoke_warning(w, a)
    w(f"Run {a.date} at commit {a.commit}; `nproc` = {a.nproc} ({a.cpu}), loopback, shared by wrk, "
      f"the proxies and the upstreams; nothing pinned.")
    w(f"wrk -c {a.conns}; closed-loop runs {a.duration} s, fixed-rate runs {a.rate_duration} s at "
      f"{int(float(a.rate)):,} req/s; {a.reps} repetition(s), peers alternated; upstream: "
      f"tests/perf/upstream.rs; {a.versions}.")
    w("")
    w("Each cell: the median, ×its ratio to nginx in the same layout and run, [min–max over the "
      "repetitions]. CPU is the peer's user+system time over the run divided by the requests "
      "served. Idle RSS is VmRSS right after start, before any request; peak RSS is VmHWM at the "
      "end of the runs (nginx and HAProxy: every process summed). In the direct rows CPU and RSS "
      "are the upstream's own, for scale.")
    w("")
    for layout in dict.fromkeys(r["layout"] for r in runs):
        report_layout(w, layout, stats, idle, meta, a.rate)
    report_memory(w, idle, meta)
    report_noise(w, runs, stats)
    return "\n".join(out), "# Benchmark results\n\nLatest run of `tests/perf/run.sh` (see README, Performance). " \
        "The claim is the ratios; absolute numbers depend on the machine and on what else it was doing.\n\n"


def scaling_report(a):
    runs, _, meta = parse(a.raw)
    stats = group(runs)
    out = []
    w = out.append
    smoke_warning(w, a)
    w(f"Run {a.date} at commit {a.commit}; `nproc` = {a.nproc} ({a.cpu}); {a.versions}.")
    w(f"wrk -c {a.conns}, closed loop, {a.duration} s per run, median of {a.reps} repetition(s). With k "
      "workers the proxy is pinned to CPUs 0..k-1 and wrk and the upstream to the CPUs left; at "
      "k = nproc nothing is left, so all three share every CPU (marked \"shared\").")
    w("")
    w("| workers | proxy CPUs | wrk + upstream CPUs | scenario | gateway req/s | nginx req/s | gateway ÷ nginx "
      "| gateway CPU µs/req | nginx CPU µs/req | gateway req/s per worker |")
    w("|" + "---|" * 10)
    layouts = sorted(dict.fromkeys(r["layout"] for r in runs), key=int)
    for k in layouts:
        m = meta.get(k, {})
        for s, name in (("a", "GET"), ("b", "POST")):
            g, n = stats.get((k, s, "gateway")), stats.get((k, s, "nginx"))
            if not g and not n:
                continue
            rest = str(m.get("rest_cpus", "?"))
            if m.get("shared") == "1":
                rest += " (shared)"
            cells = [
                k, str(m.get("proxy_cpus", "?")), rest, name,
                g.cell("rps", None) if g else "–",
                n.cell("rps", None) if n else "–",
                f"{g.med['rps'] / n.med['rps']:.2f}" if g and n else "–",
                g.cell("cpu", None) if g else "–",
                n.cell("cpu", None) if n else "–",
                f"{g.med['rps'] / int(k):,.0f}" if g else "–",
            ]
            w("| " + " | ".join(cells) + " |")
    w("")
    bad = [f"{lay}/{s}/{p}: {int(st.errors)}" for (lay, s, p), st in stats.items() if st.errors]
    w("Errors (socket errors, timeouts, non-2xx): " + (", ".join(bad) if bad else "none") + ".")
    return "\n".join(out), "# Scaling with the worker count\n\nLatest run of `tests/perf/scaling.sh` " \
        "(see README, Performance).\n\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("--out")
    ap.add_argument("--scaling", action="store_true", help="the raw results are scaling.sh's")
    for name in ("nproc", "cpu", "commit", "date", "duration", "rate-duration", "reps", "rate", "conns", "versions"):
        ap.add_argument("--" + name, default="?")
    a = ap.parse_args()
    text, preamble = scaling_report(a) if a.scaling else run_report(a)
    text += "\n"
    print(text, end="")
    if a.out:
        with open(a.out, "w") as f:
            f.write(preamble)
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
