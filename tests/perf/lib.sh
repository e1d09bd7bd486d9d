# Shell pieces shared by run.sh and scaling.sh (sourced; they set `set -euo pipefail`).
#
# Processes started with `start_bg` are remembered in PIDS and stopped by `stop_all` or, at
# exit, by `perf_cleanup` (installed by `perf_init`), which also removes the work directory
# WORK unless KEEP=1.
# shellcheck shell=bash

PERF_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PERF_ROOT="$(cd "$PERF_HERE/../.." && pwd)"
# gateway_config PORT [UPSTREAM_URL [CA_FILE]]
. "$PERF_HERE/gateway-config.sh"

TEAM_KEY="ak_perf_3f9c2e7b51d04a86b1e7c0d9a2f45e61"
TOKEN="perf_caller_9QeX2r7LmT4vBz8KpN3sYw6Hd0Jc5Fa1"
TOKEN_SHA256="$(printf '%s' "$TOKEN" | sha256sum | cut -d' ' -f1)"
RESET_BODY='{"name":"Monday cold calls for the west region","email":"ana@example.com"}'
CLK_TCK="$(getconf CLK_TCK)"
NPROC="$(nproc)"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { echo "$PERF_NAME: $*" >&2; exit 1; }

# perf_init NAME: the script's name for messages, the work directory, the exit trap.
perf_init() {
  PERF_NAME=$1
  WORK="$(mktemp -d "/tmp/allo-$PERF_NAME.XXXXXX")"
  PIDS=()
  trap perf_cleanup EXIT
  trap 'exit 130' INT TERM
}

perf_cleanup() {
  stop_all
  if [ "${KEEP:-0}" = 1 ]; then
    echo "$PERF_NAME: work directory kept: $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}

# require TOOL...: each on PATH or in /usr/sbin.
require() {
  local tool
  for tool in "$@"; do
    if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
      echo "$PERF_NAME: $tool is required (apt-get install -y nginx-light haproxy wrk curl python3)" >&2
      exit 2
    fi
  done
}
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
HAPROXY="$(command -v haproxy || echo /usr/sbin/haproxy)"

# perf_build: builds (unless SKIP_BUILD=1) and sets GATEWAY_BIN (unless set) and UPSTREAM_BIN.
perf_build() {
  cd "$PERF_ROOT"
  if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "building (release): allo-gateway, example perf-upstream"
    # Two builds: together, the example's dev-dependencies would unify their features (tokio's
    # test-util) into the gateway measured.
    cargo build --release --quiet --bin allo-gateway
    cargo build --release --quiet --example perf-upstream
  fi
  local target
  target="$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
  # A binary given by the caller (another build, to compare) is measured instead; the report
  # then names it, as the checkout's commit need not be the one it was built from.
  GATEWAY_BIN_GIVEN="${GATEWAY_BIN:-}"
  GATEWAY_BIN="${GATEWAY_BIN:-$target/release/allo-gateway}"
  UPSTREAM_BIN="$target/release/examples/perf-upstream"
  local bin
  for bin in "$GATEWAY_BIN" "$UPSTREAM_BIN"; do
    [ -x "$bin" ] || { echo "$PERF_NAME: $bin is missing (build it, or unset SKIP_BUILD)" >&2; exit 2; }
  done
}

# The commit measured, marked when src/ or the manifest has uncommitted changes.
perf_commit() {
  local commit dirty
  commit="$(git -C "$PERF_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  dirty="$(git -C "$PERF_ROOT" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null | head -1)"
  [ -n "$dirty" ] && commit="$commit (+ uncommitted changes in src/)"
  if [ -n "${GATEWAY_BIN_GIVEN:-}" ]; then
    commit="$commit (checkout; the gateway measured is $GATEWAY_BIN_GIVEN, built $(date -u -r "$GATEWAY_BIN_GIVEN" '+%Y-%m-%d %H:%M UTC'))"
  elif [ "${SKIP_BUILD:-0}" = 1 ]; then
    commit="$commit (not rebuilt: the release binary built $(date -u -r "$GATEWAY_BIN" '+%Y-%m-%d %H:%M UTC'))"
  fi
  echo "$commit"
}

cpu_model() { awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo; }

tool_versions() {
  echo "$("$NGINX" -v 2>&1 | sed 's/.*: //'), $("$HAPROXY" -v 2>&1 | head -1 | awk '{print "HAProxy " $3}'), $(wrk -v 2>&1 | head -1 | awk '{print "wrk " $2}')"
}

# free_ports N: N free 127.0.0.1 ports, space-separated.
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# --- processes ---------------------------------------------------------------------------
# start_bg LOG CPUS CMD...: runs CMD in the background (pinned to the CPU list CPUS, e.g. 0-3,
# when not empty), stdout and stderr to LOG; its pid (CMD's own: taskset execs it) in LAST_PID.
start_bg() {
  local out=$1 cpus=$2
  shift 2
  if [ -n "$cpus" ]; then
    taskset -c "$cpus" "$@" >"$out" 2>&1 &
  else
    "$@" >"$out" 2>&1 &
  fi
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

# stop_all: stops every process started with start_bg and waits for it.
stop_all() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}

# pinned CPUS CMD...: CMD on the CPU list CPUS (e.g. 0-3), or as is when CPUS is empty.
pinned() {
  local cpus=$1
  shift
  if [ -n "$cpus" ]; then taskset -c "$cpus" "$@"; else "$@"; fi
}

wait_port() { # $1 = port, $2 = name
  local _
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  KEEP=1
  die "$2 did not start listening on 127.0.0.1:$1 (logs in $WORK)"
}

# A peer's processes: the pid and its children (nginx's workers).
peer_pids() { # $1 = root pid
  echo "$1"
  cat "/proc/$1/task/"*/children 2>/dev/null | tr ' ' '\n' | sed '/^$/d'
}
# utime + stime of the processes, in clock ticks.
cpu_ticks() {
  local total=0 pid t
  for pid in "$@"; do
    t=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}') || t=0
    total=$((total + ${t:-0}))
  done
  echo "$total"
}
# status_kib FIELD PID...: a /proc/PID/status field (VmRSS, VmHWM) summed over the processes.
status_kib() {
  local field=$1 total=0 pid v
  shift
  for pid in "$@"; do
    v=$(awk -v f="$field:" '$1 == f {print $2}' "/proc/$pid/status" 2>/dev/null) || v=0
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# --- the peers ---------------------------------------------------------------------------
# start_upstream NAME PORT THREADS CPUS [h1|h2]: the perf upstream, TLS when a mode is given
# (the CA it makes goes to $WORK/NAME-ca.pem).
start_upstream() {
  local name=$1 port=$2 threads=$3 cpus=$4 tls=${5:-}
  if [ -n "$tls" ]; then
    start_bg "$WORK/$name.log" "$cpus" "$UPSTREAM_BIN" "$port" "$threads" --tls "$tls" "$WORK/$name-ca.pem"
  else
    start_bg "$WORK/$name.log" "$cpus" "$UPSTREAM_BIN" "$port" "$threads"
  fi
}

# start_gateway NAME CONFIG WORKERS LOG_LEVEL CPUS: WORKERS empty = no --workers (the default).
start_gateway() {
  local name=$1 config=$2 workers=$3 level=$4 cpus=$5
  local -a flag=()
  [ -n "$workers" ] && flag=(--workers "$workers")
  start_bg "$WORK/$name.log" "$cpus" env -u ALLO_GATEWAY_WORKERS ALLO_KEY_PERF="$TEAM_KEY" \
    ALLO_GATEWAY_LOG="$level" "$GATEWAY_BIN" "${flag[@]}" run --config "$config"
}

# start_nginx NAME CONF CPUS
start_nginx() {
  local name=$1 conf=$2 cpus=$3
  start_bg "$WORK/$name.stderr.log" "$cpus" "$NGINX" -p "$WORK/$name" -c "$conf" \
    -e "$WORK/$name/logs/error.log" -g 'daemon off;'
}

# start_haproxy NAME CONF CPUS
start_haproxy() {
  start_bg "$WORK/$1.log" "$3" "$HAPROXY" -db -f "$2"
}

# nginx_config NAME WORKERS PORT UPSTREAM_PORT [TLS_PORT TLS_UPSTREAM_PORT CA_FILE]: writes
# $WORK/NAME/nginx.conf and prints its path. The TLS server proxies to an HTTPS upstream over
# HTTP/1.1 with pooled keep-alive connections, verifying the upstream's certificate.
nginx_config() {
  local name=$1 workers=$2 port=$3 upstream_port=$4 tls_port=${5:-} tls_upstream_port=${6:-} ca=${7:-}
  local dir="$WORK/$name"
  mkdir -p "$dir/logs" "$dir/tmp"
  {
    cat <<EOF
# Generated by tests/perf/lib.sh: $workers worker(s), pooled keep-alive upstream, no access log.
worker_processes $workers;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  # The gateway never closes a busy keep-alive connection; neither does nginx here.
  keepalive_requests 100000000;
  upstream perf_upstream {
    server 127.0.0.1:$upstream_port;
    keepalive 128;
    keepalive_requests 100000000;
  }
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://perf_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Api-Key $TEAM_KEY";
    }
  }
EOF
    if [ -n "$tls_port" ]; then
      cat <<EOF
  upstream perf_upstream_tls {
    server 127.0.0.1:$tls_upstream_port;
    keepalive 128;
    keepalive_requests 100000000;
  }
  server {
    listen 127.0.0.1:$tls_port;
    location / {
      proxy_pass https://perf_upstream_tls;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Api-Key $TEAM_KEY";
      proxy_ssl_server_name on;
      proxy_ssl_name localhost;
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate $ca;
      proxy_ssl_session_reuse on;
    }
  }
EOF
    fi
    echo "}"
  } >"$dir/nginx.conf"
  echo "$dir/nginx.conf"
}

# haproxy_config NAME THREADS PORT UPSTREAM_PORT: writes $WORK/NAME.cfg and prints its path.
haproxy_config() {
  local file="$WORK/$1.cfg"
  cat >"$file" <<EOF
# Generated by tests/perf/lib.sh: $2 thread(s), connection reuse, no logging.
global
  nbthread $2
  maxconn 4096
defaults
  mode http
  option http-keep-alive
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
frontend perf
  bind 127.0.0.1:$3
  http-request set-header Authorization "Api-Key $TEAM_KEY"
  default_backend upstream
backend upstream
  http-reuse always
  server perf 127.0.0.1:$4 maxconn 1000
EOF
  echo "$file"
}

# --- checks ------------------------------------------------------------------------------
# check_forwarding NAME PORT [VERSION]: a GET and a POST through the peer reach the upstream
# with the team key exactly once and the body whole (and, if given, over HTTP version VERSION,
# e.g. HTTP/2.0, as the upstream saw it).
check_forwarding() {
  python3 - "$1" "$2" "$TOKEN" "Api-Key $TEAM_KEY" "$RESET_BODY" "${3:-}" <<'EOF' || die "$1 forwards wrongly"
import http.client, json, sys
peer, port, token, key, body, version = sys.argv[1:]
for method, path, sent in (("GET", "/v2/api/users", None),
                           ("POST", "/v2/api/dialing-queues/current", body.encode())):
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
    headers = {"Authorization": "Bearer " + token, "x-perf-echo": "1"}
    if sent is not None:
        headers["Content-Type"] = "application/json"
    c.request(method, path, body=sent, headers=headers)
    r = c.getresponse()
    out = r.read().decode("utf-8", "replace")
    if r.status != 200:
        sys.exit(f"{peer}: {method} answered {r.status}: {out}")
    got = json.loads(out)
    bad = []
    if got.get("method") != method: bad.append(f"method {got.get('method')}")
    if got.get("authorization") != key or got.get("authorization_count") != 1:
        bad.append("team key not injected exactly once")
    if got.get("body_len") != (len(sent) if sent else 0): bad.append(f"body_len {got.get('body_len')}")
    if version and got.get("version") != version: bad.append(f"upstream saw {got.get('version')}, not {version}")
    if bad:
        sys.exit(f"{peer}: {', '.join(bad)}: {out}")
EOF
}

# check_refusals PORT: the gateway refuses an invalid body (400) and an unknown token (401),
# so it is doing its work, not passing through.
check_refusals() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' --data-raw '{"name":"x","colour":"red"}' \
    "http://127.0.0.1:$1/v2/api/dialing-queues/current")
  [ "$code" = 400 ] || die "the gateway let an invalid body through ($code)"
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer wrong-token' \
    "http://127.0.0.1:$1/v2/api/users")
  [ "$code" = 401 ] || die "the gateway let an unknown token through ($code)"
}

# upstream_connections PORT: connections the TLS perf upstream on PORT accepted, not counting
# the /__stats queries (one connection each, this one included).
upstream_connections() {
  python3 - "$1" "$WORK" <<'EOF'
import json, ssl, sys, http.client
port, work = sys.argv[1:]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
c = http.client.HTTPSConnection("127.0.0.1", int(port), timeout=10, context=ctx)
c.request("GET", "/__stats")
got = json.loads(c.getresponse().read())
print(got["connections"] - got["stats_requests"])
EOF
}

# --- load ----------------------------------------------------------------------------------
# wrk_run OUT_VAR CPUS THREADS CONNS DURATION SCRIPT METHOD BODY URL: runs wrk (pinned to CPUS
# when set) with one of lua/*.lua and sets OUT_VAR to its "PERF ..." line (without "PERF ").
wrk_run() {
  local -n _out=$1
  local cpus=$2 threads=$3 conns=$4 duration=$5 script=$6 method=$7 body=$8 url=$9 text line
  text=$(PERF_METHOD=$method PERF_BODY=$body PERF_TOKEN=$TOKEN PERF_RATE=${RATE:-5000} PERF_THREADS=$threads \
    pinned "$cpus" wrk -t "$threads" -c "$conns" -d "${duration}s" --latency -s "$PERF_HERE/lua/$script" \
    "$url" 2>&1) || { echo "$text" >&2; die "wrk failed"; }
  line=$(grep '^PERF ' <<<"$text" || true)
  [ -n "$line" ] || { echo "$text" >&2; die "no PERF line from wrk"; }
  _out=${line#PERF }
}

# measured_wrk OUT_VAR ROOT_PID CPUS THREADS CONNS DURATION SCRIPT METHOD BODY URL: wrk_run,
# with the CPU time the peer (ROOT_PID and its children) spent over the run and its peak RSS
# prepended to the PERF fields: "cpu_ticks=… clk_tck=… rss_kib=… requests=… …".
measured_wrk() {
  local -n _measured=$1
  local root=$2
  shift 2
  local -a pids
  mapfile -t pids < <(peer_pids "$root")
  local before after perf
  before=$(cpu_ticks "${pids[@]}")
  wrk_run perf "$@"
  after=$(cpu_ticks "${pids[@]}")
  _measured="cpu_ticks=$((after - before)) clk_tck=$CLK_TCK rss_kib=$(status_kib VmHWM "${pids[@]}") $perf"
}
