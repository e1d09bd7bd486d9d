#!/usr/bin/env python3
"""The declared rust-version holds: no dependency in the lock file asks for a newer compiler.

Only one toolchain is installed where CI runs, so the MSRV cannot be built with; this catches
the usual way it goes stale (a dependency update that raises its own rust-version).
"""
import json
import subprocess
import sys


def version(text):
    return tuple(int(part) for part in text.split(".")[:3])


meta = json.loads(subprocess.check_output(["cargo", "metadata", "--format-version", "1", "--locked"]))
ours = next(p for p in meta["packages"] if p["name"] == "allo-gateway")
declared = version(ours["rust_version"])
newer = [
    (p["name"], p["version"], p["rust_version"])
    for p in meta["packages"]
    if p.get("rust_version") and version(p["rust_version"]) > declared
]
if newer:
    for name, ver, needs in sorted(newer):
        print(f"{name} {ver} needs rustc {needs}, above rust-version {ours['rust_version']}")
    sys.exit(1)
print(f"rust-version {ours['rust_version']}: no dependency asks for more")
