#!/usr/bin/env bash
# Instruction-level profile of the release gateway under a fixed number of requests.
#
#   tests/perf/profile.sh
#
# Runs the gateway under `valgrind --tool=callgrind` (deterministic instruction counts, no
# sampling: the numbers repeat from run to run, unlike wall-clock timings on a shared machine)
# in front of the perf upstream, sends a warm-up, zeroes the counters, then sends N GET
# /v2/api/users and dumps, then N POST /v2/api/dialing-queues/current (the ~100-byte body) and
# dumps again, over CONNS (8) keep-alive connections. Prints, per phase, the instructions and
# allocations per request and the top functions, self and inclusive (callgrind_top.py).
#
# Environment: N [2000] requests per phase; CONNS [8] keep-alive connections they are sent over
# (64, as run.sh's wrk, keeps more requests in flight at once); TOP [15] rows; SKIP_BUILD [0]; GATEWAY_BIN [the
# release build] the binary to profile; OUT [work dir] where the
# callgrind.out files and annotations go (kept); ALLO_GATEWAY_LOG [warn]; UPSTREAM_TLS [empty:
# plain HTTP] `h1` or `h2`: the perf upstream behind TLS offering that protocol by ALPN (the
# HTTPS upstream of run.sh's scenario d; the TLS handshakes fall in the warm-up).
# PEER [gateway] `nginx` profiles nginx instead (one process: `worker_processes 1`,
# `master_process off`; run.sh's config: pooled keep-alive upstream, the team key set, no access
# log), the same client and counts, for instructions against instructions. CACHE_SIM [0] 1
# also simulates the caches (`--cache-sim=yes`: slower) and prints the misses per request
# (first-level instruction and data reads and writes, last level), free of timing noise like
# the instruction counts though less exact from run to run (±3 % GET, ±10 % POST): what a
# request's memory footprint costs, compared between changes or between the gateway and nginx
# on a machine whose timings are too noisy for it. CACHE_ARGS [empty] more valgrind options,
# e.g. `--I1=4096,4,64 --D1=4096,4,64`: caches so small that a request finds nothing of the
# one before in them, so the misses count the cache lines a request touches (its footprint),
# as on a machine where the kernel's work between two requests evicts the first-level caches.
# FOOTPRINT [0] 1 also counts the distinct 64-byte lines of code a request runs (footprint.py):
# unlike the misses of a 32 KiB cache, which move with the binary's layout, this count stays.
# The release profile carries symbols but no line tables, so inlined functions are counted in
# their callers. For line-level detail build into a separate target dir, e.g.
#   CARGO_TARGET_DIR=/tmp/allo-prof CARGO_PROFILE_RELEASE_DEBUG=line-tables-only tests/perf/profile.sh
# (a separate dir, so the shared target dir's release build is not invalidated).

set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
N="${N:-2000}"
CONNS="${CONNS:-8}"
SKIP_BUILD="${SKIP_BUILD:-0}"
OUT="${OUT:-$(mktemp -d /tmp/allo-profile.XXXXXX)}"
mkdir -p "$OUT"
for tool in valgrind callgrind_control python3; do
  command -v "$tool" >/dev/null || { echo "profile.sh: $tool is required" >&2; exit 2; }
done

cd "$ROOT"
if [ "$SKIP_BUILD" != 1 ]; then
  # Two builds, so the gateway is built without the dev-dependencies' features (as run.sh does).
  cargo build --release --quiet --bin allo-gateway
  cargo build --release --quiet --example perf-upstream
fi
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
GATEWAY_BIN="${GATEWAY_BIN:-$TARGET_DIR/release/allo-gateway}"
UPSTREAM_BIN="$TARGET_DIR/release/examples/perf-upstream"

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

read -r UPSTREAM_PORT GATEWAY_PORT <<<"$(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))')"
TEAM_KEY="ak_perf_3f9c2e7b51d04a86b1e7c0d9a2f45e61"
TOKEN="perf_caller_9QeX2r7LmT4vBz8KpN3sYw6Hd0Jc5Fa1"
TOKEN_SHA256="$(printf '%s' "$TOKEN" | sha256sum | cut -d' ' -f1)"
. "$HERE/gateway-config.sh"
UPSTREAM_TLS="${UPSTREAM_TLS:-}"
if [ -n "$UPSTREAM_TLS" ]; then
  rm -f "$OUT/upstream-ca.pem"
  "$UPSTREAM_BIN" "$UPSTREAM_PORT" 1 --tls "$UPSTREAM_TLS" "$OUT/upstream-ca.pem" 2>"$OUT/upstream.log" &
  PIDS+=($!)
  for _ in $(seq 1 600); do
    if [ -s "$OUT/upstream-ca.pem" ] && (exec 3<>"/dev/tcp/127.0.0.1/$UPSTREAM_PORT") 2>/dev/null; then break; fi
    sleep 0.1
  done
  gateway_config "$GATEWAY_PORT" "https://127.0.0.1:$UPSTREAM_PORT" "$OUT/upstream-ca.pem" >"$OUT/gateway.toml"
else
  "$UPSTREAM_BIN" "$UPSTREAM_PORT" 2>"$OUT/upstream.log" &
  PIDS+=($!)
  gateway_config "$GATEWAY_PORT" >"$OUT/gateway.toml"
fi
VALGRIND=(valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out.%p")
[ "${CACHE_SIM:-0}" = 1 ] && VALGRIND+=(--cache-sim=yes)
[ "${FOOTPRINT:-0}" = 1 ] && VALGRIND+=(--dump-instr=yes)
# shellcheck disable=SC2206 # split on purpose: several options
[ -n "${CACHE_ARGS:-}" ] && VALGRIND+=($CACHE_ARGS)
case "${PEER:-gateway}" in
  gateway)
    ALLO_KEY_PERF="$TEAM_KEY" ALLO_GATEWAY_LOG="${ALLO_GATEWAY_LOG:-warn}" \
      "${VALGRIND[@]}" "$GATEWAY_BIN" run --config "$OUT/gateway.toml" >"$OUT/gateway.log" 2>"$OUT/valgrind.log" &
    ;;
  nginx)
    [ -z "$UPSTREAM_TLS" ] || { echo "profile.sh: PEER=nginx takes a plain upstream" >&2; exit 2; }
    WORK="$OUT"
    . "$HERE/lib.sh" # nginx_config, NGINX
    conf="$(nginx_config nginx 1 "$GATEWAY_PORT" "$UPSTREAM_PORT")"
    "${VALGRIND[@]}" "$NGINX" -p "$OUT/nginx" -c "$conf" -e "$OUT/nginx/logs/error.log" \
      -g 'daemon off; master_process off;' >"$OUT/nginx.log" 2>"$OUT/valgrind.log" &
    ;;
  *) echo "profile.sh: PEER is gateway or nginx" >&2; exit 2 ;;
esac
VG_PID=$!
PIDS+=("$VG_PID")
for _ in $(seq 1 600); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$GATEWAY_PORT") 2>/dev/null; then break; fi
  sleep 0.1
done

# Sends N requests of one kind over CONNS keep-alive connections; fails on any non-200.
load() { # $1 = GET|POST, $2 = count
  python3 - "$GATEWAY_PORT" "$TOKEN" "$1" "$2" "$CONNS" <<'EOF'
import http.client, sys, threading
port, token, method, count, conns = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
body = b'{"name":"Monday cold calls for the west region","email":"ana@example.com"}'
path = "/v2/api/users" if method == "GET" else "/v2/api/dialing-queues/current"
headers = {"Authorization": "Bearer " + token}
if method == "POST":
    headers["Content-Type"] = "application/json"
failures = []
def worker(n):
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
    for _ in range(n):
        c.request(method, path, body=body if method == "POST" else None, headers=headers)
        r = c.getresponse()
        r.read()
        if r.status != 200:
            failures.append(r.status)
threads = [threading.Thread(target=worker, args=(count // conns + (1 if i < count % conns else 0),)) for i in range(conns)]
for t in threads: t.start()
for t in threads: t.join()
if failures:
    sys.exit(f"{len(failures)} requests failed: {sorted(set(failures))}")
EOF
}

load GET 200
load POST 200
callgrind_control -z "$VG_PID" >/dev/null 2>&1
load GET "$N"
callgrind_control -d get "$VG_PID" >/dev/null 2>&1 # -> callgrind.out.<pid>.1
load POST "$N"
callgrind_control -d post "$VG_PID" >/dev/null 2>&1 # -> callgrind.out.<pid>.2
kill -TERM "$VG_PID"
wait "$VG_PID" 2>/dev/null || true

for phase in get post; do
  dump=1
  [ "$phase" = post ] && dump=2
  file="$OUT/callgrind.out.$VG_PID.$dump"
  if [ ! -s "$file" ]; then
    echo "profile.sh: no dump for $phase in $OUT" >&2
    ls "$OUT" >&2
    exit 1
  fi
  echo "== $phase ($file)"
  python3 "$HERE/callgrind_top.py" "$file" "$N" --top "${TOP:-15}" | tee "$OUT/$phase.top.txt"
  if [ "${CACHE_SIM:-0}" = 1 ]; then
    # The events line names the columns of the summary line.
    awk -v n="$N" '/^events:/ { for (i = 2; i <= NF; i++) name[i] = $i }
      /^summary:/ { printf "misses per request:"; for (i = 2; i <= NF; i++) if (name[i] ~ /m[rw]$/) printf " %s %.1f", name[i], $i / n; print "" }' "$file"
  fi
  if [ "${FOOTPRINT:-0}" = 1 ]; then
    python3 "$HERE/footprint.py" "$file" "$N" --top "${TOP:-15}" | tee "$OUT/$phase.footprint.txt"
  fi
  echo
done
echo "profile.sh: callgrind files and tables in $OUT (callgrind_top.py FILE $N --markdown for Markdown)"
