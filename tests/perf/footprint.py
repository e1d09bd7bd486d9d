#!/usr/bin/env python3
"""The code a request runs, in cache lines: distinct 64-byte lines of instructions executed in
at least half the requests of a callgrind.out file written with `--dump-instr=yes`.

    footprint.py FILE REQUESTS [--top N] [--cache BYTES,WAYS]

A request whose code spans more lines than the first-level instruction cache holds (64 KiB,
16-way, 1,024 lines, on the machine measured here; `--cache BYTES,WAYS`) brings some of them
in again every time, however the lines are laid out; how many depends on the layout, which any
change to the binary moves, while this count does not. Prints the total, how many of the
cache's sets it would crowd past their ways, and the functions with the most lines (with their
instructions per request and per line: code that runs sparsely through its lines costs more of
them).
"""

import argparse
import collections

from callgrind_top import Names, lines


def read(path):
    """Instructions executed per (object, address), and each address's function."""
    cost = collections.Counter()
    owner = {}
    names = Names()
    resolve = names.resolve

    obj = fn = None
    npos = 1
    address = 0
    skip_cost = False  # the line after `calls=` is the call's inclusive cost
    for line, is_cost in lines(path):
        if is_cost:
            parts = line.split()
            first = parts[0]
            if first.startswith("0x"):
                address = int(first, 16)
            elif first[0] in "+-":
                address += int(first)
            elif first != "*":
                address = int(first)
            if skip_cost:
                skip_cost = False
            elif len(parts) > npos:
                cost[(obj, address)] += int(parts[npos])
                owner[(obj, address)] = fn
            continue
        if line.startswith("positions:"):
            npos = len(line.split()) - 1
            if line.split()[1] != "instr":
                raise SystemExit(f"{path}: written without --dump-instr=yes")
        elif line.startswith("ob="):
            obj = resolve("ob", line[3:])
        elif line.startswith("fn="):
            fn = resolve("fn", line[3:])
        elif line.startswith("calls="):
            skip_cost = True
        elif line.startswith("cfn="):
            resolve("fn", line[4:])  # names the id for later `fn=` lines
        elif line.startswith("cob="):
            resolve("ob", line[4:])
    return cost, owner


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("requests", type=int)
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--cache", default="65536,16", help="first-level code cache: bytes,ways")
    args = parser.parse_args()
    cost, owner = read(args.file)
    lines = collections.defaultdict(int)
    per_fn = collections.defaultdict(lambda: [set(), 0])
    for (obj, address), ir in cost.items():
        if ir * 2 < args.requests:
            continue
        lines[(obj, address >> 6)] += ir
        entry = per_fn[owner[(obj, address)]]
        entry[0].add((obj, address >> 6))
        entry[1] += ir
    size, ways = (int(x) for x in args.cache.split(","))
    set_count = size // 64 // ways
    sets = collections.Counter(line % set_count for _, line in lines)
    crowded = [n for n in sets.values() if n > ways]
    print(
        f"code lines run per request: {len(lines)} ({len(lines) * 64 // 1024} KiB); "
        f"a {size // 1024} KiB {ways}-way cache holds {size // 64}, "
        f"and {len(crowded)} of its {set_count} sets would have more lines than ways"
    )
    ranked = sorted(per_fn.items(), key=lambda item: -len(item[1][0]))
    for name, (fn_lines, ir) in ranked[: args.top]:
        per_request = ir / args.requests
        print(f"{len(fn_lines):6d} lines {per_request:8.0f} instr/req {per_request / len(fn_lines):5.1f} per line  {name[:100]}")


if __name__ == "__main__":
    main()
