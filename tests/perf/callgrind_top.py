#!/usr/bin/env python3
"""Top functions of a callgrind.out file, per request: self and inclusive instruction counts.

    callgrind_top.py FILE REQUESTS [--top N] [--markdown]

A small reader of the callgrind format (name compression, subposition compression, `calls=`
lines), written because `callgrind_annotate` 3.19 mis-attributes self costs for Rust's
demangled names (it puts everything on the outermost frame). Self cost: instructions executed
in the function's own code. Inclusive: self plus the cost of every call it makes (as callgrind
records it; recursion levels appear as separate names, `'2`). Also counts calls to the
allocator (malloc, calloc, realloc, free) per request.
"""

import argparse
import collections
import re
import signal
import sys

class Names:
    """Callgrind's name compression: `(id) name` defines an id, `(id)` alone refers to it; one
    table per kind (`fn` and `cfn` share one, `ob` and `cob` another)."""

    _spec = re.compile(r"\((\d+)\)(?: (.*))?$")

    def __init__(self):
        self._table = collections.defaultdict(dict)

    def resolve(self, kind, spec):
        m = self._spec.match(spec)
        if not m:
            return spec
        ident, name = m.groups()
        if name is not None:
            self._table[kind][ident] = name
            return name
        return self._table[kind].get(ident, f"({ident})")


def lines(path):
    """The non-empty lines of a callgrind.out file, each with whether it is a cost line
    (positions, then costs) rather than a specification (`fn=`, `calls=`, `positions:`...)."""
    with open(path, errors="replace") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if line:
                yield line, line[0].isdigit() or line[0] in "+-*"


def read(path):
    names = Names()
    self_cost = collections.Counter()
    incl_calls = collections.Counter()  # cost of calls made by fn (to other fns)
    calls_to = collections.Counter()  # number of calls into a fn
    fn = None
    pending_call = None  # (callee, count) waiting for its cost line
    total = None
    # How many position columns come before the costs (`positions: instr line` has two).
    npos = 1

    def resolve(spec):
        return names.resolve("fn", spec)

    for line, is_cost in lines(path):
        if is_cost:
            parts = line.split()
            if len(parts) <= npos:
                continue
            cost = int(parts[npos])
            if pending_call is not None:
                callee, count = pending_call
                if callee != fn:
                    incl_calls[fn] += cost
                calls_to[callee] += count
                pending_call = None
            else:
                self_cost[fn] += cost
            continue
        if line.startswith("positions:"):
            npos = len(line.split()) - 1
        elif line.startswith("fn="):
            fn = resolve(line[3:])
        elif line.startswith("cfn="):
            callee = resolve(line[4:])
            pending_call = (callee, 0)
        elif line.startswith("calls="):
            count = int(line[6:].split()[0])
            callee = pending_call[0] if pending_call else None
            pending_call = (callee, count)
        elif line.startswith(("summary:", "totals:")) and total is None:
            total = int(line.split()[1])
    inclusive = collections.Counter()
    for name in set(self_cost) | set(incl_calls):
        inclusive[name] = self_cost[name] + incl_calls[name]
    if total is None:
        total = sum(self_cost.values())
    return total, self_cost, inclusive, calls_to


def short(name, width=110):
    name = re.sub(r"<([^<>]*?) as ([^<>]*)>", r"<\1 as \2>", name)
    return name if len(name) <= width else name[: width - 1] + "…"


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when piped into head
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("requests", type=int)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    total, self_cost, inclusive, calls_to = read(a.file)
    n = a.requests
    allocs = sum(calls_to[x] for x in calls_to if x in ("malloc", "calloc", "realloc", "__libc_malloc", "__libc_calloc", "__libc_realloc"))
    frees = sum(calls_to[x] for x in calls_to if x in ("free", "__libc_free"))
    print(f"{total:,} instructions for {n:,} requests: {total / n:,.0f} per request; "
          f"allocator: {allocs / n:.1f} allocations and {frees / n:.1f} frees per request")
    for title, table in (("self", self_cost), ("inclusive", inclusive)):
        print()
        if a.markdown:
            print(f"| # | instr/req ({title}) | % | function |")
            print("|---|---|---|---|")
        else:
            print(f"-- {title}")
        rank = 0
        for name, cost in table.most_common():
            if title == "inclusive" and cost >= 0.97 * total:
                continue  # thread entry points, the runtime loop: everything
            rank += 1
            if rank > a.top:
                break
            per = cost / n
            pct = 100 * cost / total
            if a.markdown:
                print(f"| {rank} | {per:,.0f} | {pct:.1f} | `{short(name)}` |")
            else:
                print(f"{per:>10,.0f} {pct:5.1f}%  {short(name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
