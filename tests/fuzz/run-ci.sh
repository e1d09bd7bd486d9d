#!/usr/bin/env bash
# Short fuzzing runs for CI: every cargo-fuzz target in tests/fuzz, each for a bounded time,
# starting from the seeds in tests/fuzz/seeds (new corpus entries go to a temporary folder,
# never into the repository). Exits non-zero if any target crashes: a panic, a failed
# assertion, an input slower than 10 s, or more than 2 GB of memory.
#
# Only a stable toolchain is assumed. cargo-fuzz passes nightly-only rustc flags (-Z...) for
# the coverage instrumentation; RUSTC_BOOTSTRAP=1 lets the stable compiler accept them. It is
# set for this script only: the gateway itself never needs it.
#
# Knobs (environment):
#   FUZZ_SECONDS    time per target (default 15)
#   FUZZ_TARGETS    space-separated targets (default: all of `cargo fuzz list`)
#   FUZZ_SANITIZER  none (default: the crate forbids unsafe code, and it runs faster) or address
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
fuzz_dir="$root/tests/fuzz"
seconds="${FUZZ_SECONDS:-15}"
sanitizer="${FUZZ_SANITIZER:-none}"
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
cargo fuzz --version

# The gateway's dependencies at the versions of its own lock file; cargo adds libfuzzer-sys.
cp "$root/Cargo.lock" "$fuzz_dir/Cargo.lock"

targets="${FUZZ_TARGETS:-$(cargo fuzz list --fuzz-dir "$fuzz_dir")}"
flags=(--fuzz-dir "$fuzz_dir" --sanitizer "$sanitizer")
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== build"
cargo fuzz build "${flags[@]}"

failed=()
for target in $targets; do
    corpus="$work/$target"
    mkdir -p "$corpus"
    options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
    if [ -f "$fuzz_dir/dicts/$target.dict" ]; then
        options+=(-dict="$fuzz_dir/dicts/$target.dict")
    fi
    seeds=()
    if [ -d "$fuzz_dir/seeds/$target" ]; then
        seeds=("$fuzz_dir/seeds/$target")
    fi
    echo "== fuzz $target for ${seconds}s"
    if ! cargo fuzz run "${flags[@]}" "$target" "$corpus" "${seeds[@]}" -- "${options[@]}"; then
        echo "!! $target crashed; the input is under $fuzz_dir/artifacts/$target/"
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzzing found crashes in: ${failed[*]}"
    exit 1
fi
echo "fuzzing: no crash in ${targets//$'\n'/ }"
