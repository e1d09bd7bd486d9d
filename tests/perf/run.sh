#!/usr/bin/env bash
# The gateway against nginx, HAProxy and the direct path, on loopback.
#
#   tests/perf/run.sh
#
# Builds the release gateway and the perf upstream (tests/perf/upstream.rs). Then, for each
# layout in LAYOUTS, starts the upstreams, the gateway, nginx and HAProxy on their own
# 127.0.0.1 ports with that layout's worker count, records every peer's idle RSS, checks that
# each proxy forwards what it should, runs wrk against each peer and against the upstream
# directly (peers alternated within each repetition), and stops them all. Scenarios:
#
#   (a) GET  /v2/api/users                    closed loop, CONNS connections
#   (b) POST /v2/api/dialing-queues/current   closed loop, ~100-byte valid JSON body
#   (c) POST /v2/api/dialing-queues/current   fixed rate RATE req/s (approximately open loop;
#                                             see lua/fixed.lua)
#   (d) GET  /v2/api/users to an HTTPS upstream, closed loop: nginx (HTTP/1.1 upstream, pooled
#       keep-alive), the gateway to an upstream offering only http/1.1 by ALPN, and the gateway
#       to an upstream offering h2; each peer has its own upstream, which counts the
#       connections it accepts (GET /__stats), so the report shows how many each peer opened.
#
# Layouts:
#   1      one worker each: nginx worker_processes 1, HAProxy nbthread 1, gateway --workers 1
#   nproc  every peer at `nproc` workers: nginx worker_processes and HAProxy nbthread = nproc,
#          the gateway with no --workers flag (its default, one per core)
#   N      (any other number) every peer at N workers, the gateway with --workers N
#
# Every figure is the median over REPS repetitions, with the spread (min–max) beside it; ratios
# are to nginx in the same layout and run. One table per layout goes to stdout and to
# tests/perf/RESULTS.md (report.py).
# Requires: cargo, wrk, nginx (with the ssl module: nginx-light has it), haproxy, python3, curl.
#
# Environment (defaults in brackets):
#   LAYOUTS ["1 nproc"]  layouts to run, in order
#   DURATION [5]         seconds per closed-loop run
#   RATE_DURATION [5]    seconds per fixed-rate run
#   REPS [3]             repetitions of every run
#   RATE [5000]          fixed-rate target, requests/s
#   CONNS [64]           wrk connections
#   THREADS [2]          wrk threads in layout 1;  NPROC_THREADS [max(2, nproc/2)] in the others
#   UPSTREAM_THREADS [1] perf-upstream runtime threads in layout 1 (1 = current-thread);
#                        NPROC_UPSTREAM_THREADS [the layout's worker count] in the others,
#                        as the upstream of the measurement that set the targets had (2 on
#                        2 cores): a one-thread upstream makes the gateway's HTTP/2
#                        connections (one per worker) wait on each other there
#   INFO_LOG [1]         also run (a) against a second gateway logging every request (info)
#   SCENARIOS ["a b c d"] scenarios to run, of a b c d
#   DSCENARIO [1]        run (d), the HTTPS upstream (0 = skip it, as if SCENARIOS left it out)
#   SKIP_BUILD [0]       use the binaries already built
#   GATEWAY_BIN []       measure this gateway binary instead of the release build (an A/B)
#   KEEP [0]             keep the work directory (configs, logs, raw results)
#   RESULTS [tests/perf/RESULTS.md]   where the tables go ("" = nowhere)
# With the defaults the measurement takes about 10 minutes (plus the build).

set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/lib.sh"

LAYOUTS="${LAYOUTS:-1 nproc}"
DURATION="${DURATION:-5}"
RATE_DURATION="${RATE_DURATION:-5}"
REPS="${REPS:-3}"
RATE="${RATE:-5000}"
CONNS="${CONNS:-64}"
THREADS="${THREADS:-2}"
NPROC_THREADS="${NPROC_THREADS:-$((NPROC / 2 > 2 ? NPROC / 2 : 2))}"
UPSTREAM_THREADS="${UPSTREAM_THREADS:-1}"
NPROC_UPSTREAM_THREADS="${NPROC_UPSTREAM_THREADS:-}"
INFO_LOG="${INFO_LOG:-1}"
SCENARIOS="${SCENARIOS:-a b c d}"
[ "${DSCENARIO:-1}" = 1 ] || SCENARIOS="${SCENARIOS//d/}"
DSCENARIO=0
[[ " $SCENARIOS " == *" d "* ]] && DSCENARIO=1
KEEP="${KEEP:-0}"
RESULTS="${RESULTS-$HERE/RESULTS.md}"

perf_init perf
require cargo wrk nginx haproxy python3 curl
for scenario in $SCENARIOS; do
  [[ "$scenario" =~ ^[abcd]$ ]] || die "SCENARIOS: '$scenario' is not one of a b c d"
done
for layout in $LAYOUTS; do
  [[ "$layout" == nproc || "$layout" =~ ^[1-9][0-9]*$ ]] || die "LAYOUTS: '$layout' is neither nproc nor a number"
done
perf_build

RAW="$WORK/runs.tsv"
: >"$RAW"

# Alternate peers inside each repetition and rotate who goes first, so slow drifts in what
# else the machine is doing spread over every peer alike.
rotate() { # $1 = offset, rest = items
  local off=$1
  shift
  local -a items=("$@")
  local n=${#items[@]} i
  for ((i = 0; i < n; i++)); do echo "${items[$(((i + off) % n))]}"; done
}

# One layout: start everything, measure, stop everything. Appends to $RAW.
run_layout() { # $1 = layout
  local layout=$1 workers gateway_workers wrk_threads upstream_threads
  if [ "$layout" = 1 ]; then
    workers=1 gateway_workers=1 wrk_threads=$THREADS upstream_threads=$UPSTREAM_THREADS
  elif [ "$layout" = nproc ]; then
    workers=$NPROC gateway_workers="" wrk_threads=$NPROC_THREADS upstream_threads=${NPROC_UPSTREAM_THREADS:-$NPROC}
  else
    workers=$layout gateway_workers=$layout wrk_threads=$NPROC_THREADS upstream_threads=${NPROC_UPSTREAM_THREADS:-$layout}
  fi
  log "layout $layout: $workers worker(s) per peer (gateway: ${gateway_workers:+--workers }${gateway_workers:-its default}), wrk -t $wrk_threads, upstream $upstream_threads thread(s)"

  local up up_h1_nginx up_h1_gw up_h2 gw gw_info ng ng_tls hap gw_h1 gw_h2
  read -r up up_h1_nginx up_h1_gw up_h2 gw gw_info ng ng_tls hap gw_h1 gw_h2 <<<"$(free_ports 11)"
  declare -gA PORT=([direct]=$up [nginx]=$ng [haproxy]=$hap [gateway]=$gw [gateway-info]=$gw_info
    [d:nginx]=$ng_tls [d:gateway-h1]=$gw_h1 [d:gateway-h2]=$gw_h2)
  declare -gA UPSTREAM_OF=([d:nginx]=$up_h1_nginx [d:gateway-h1]=$up_h1_gw [d:gateway-h2]=$up_h2)
  declare -gA ROOTPID=() UPSTREAM_PID=()

  # Upstreams first: the TLS ones write the CA the proxies load at start.
  start_upstream "upstream-$layout" "$up" "$upstream_threads" ""
  ROOTPID[direct]=$LAST_PID
  if [ "$DSCENARIO" = 1 ]; then
    start_upstream "up-h1-nginx-$layout" "$up_h1_nginx" "$upstream_threads" "" h1
    UPSTREAM_PID[d:nginx]=$LAST_PID
    start_upstream "up-h1-gateway-$layout" "$up_h1_gw" "$upstream_threads" "" h1
    UPSTREAM_PID[d:gateway-h1]=$LAST_PID
    start_upstream "up-h2-gateway-$layout" "$up_h2" "$upstream_threads" "" h2
    UPSTREAM_PID[d:gateway-h2]=$LAST_PID
  fi
  wait_port "$up" perf-upstream
  if [ "$DSCENARIO" = 1 ]; then
    wait_port "$up_h1_nginx" "perf-upstream (TLS, h1, for nginx)"
    wait_port "$up_h1_gw" "perf-upstream (TLS, h1)"
    wait_port "$up_h2" "perf-upstream (TLS, h2)"
  fi

  UPSTREAM_PORT=$up
  gateway_config "$gw" >"$WORK/gateway-$layout.toml"
  start_gateway "gateway-$layout" "$WORK/gateway-$layout.toml" "$gateway_workers" warn ""
  ROOTPID[gateway]=$LAST_PID
  if [ "$INFO_LOG" = 1 ]; then
    gateway_config "$gw_info" >"$WORK/gateway-info-$layout.toml"
    start_gateway "gateway-info-$layout" "$WORK/gateway-info-$layout.toml" "$gateway_workers" info ""
    ROOTPID[gateway-info]=$LAST_PID
  fi
  local nginx_conf
  if [ "$DSCENARIO" = 1 ]; then
    gateway_config "$gw_h1" "https://127.0.0.1:$up_h1_gw" "$WORK/up-h1-gateway-$layout-ca.pem" >"$WORK/gateway-h1-$layout.toml"
    start_gateway "gateway-h1-$layout" "$WORK/gateway-h1-$layout.toml" "$gateway_workers" warn ""
    ROOTPID[d:gateway-h1]=$LAST_PID
    gateway_config "$gw_h2" "https://127.0.0.1:$up_h2" "$WORK/up-h2-gateway-$layout-ca.pem" >"$WORK/gateway-h2-$layout.toml"
    start_gateway "gateway-h2-$layout" "$WORK/gateway-h2-$layout.toml" "$gateway_workers" warn ""
    ROOTPID[d:gateway-h2]=$LAST_PID
    nginx_conf=$(nginx_config "nginx-$layout" "$workers" "$ng" "$up" "$ng_tls" "$up_h1_nginx" "$WORK/up-h1-nginx-$layout-ca.pem")
  else
    nginx_conf=$(nginx_config "nginx-$layout" "$workers" "$ng" "$up")
  fi
  start_nginx "nginx-$layout" "$nginx_conf" ""
  ROOTPID[nginx]=$LAST_PID
  ROOTPID[d:nginx]=$LAST_PID
  start_haproxy "haproxy-$layout" "$(haproxy_config "haproxy-$layout" "$workers" "$hap" "$up")" ""
  ROOTPID[haproxy]=$LAST_PID

  wait_port "$gw" allo-gateway
  [ "$INFO_LOG" = 1 ] && wait_port "$gw_info" "allo-gateway (info log)"
  wait_port "$ng" nginx
  wait_port "$hap" haproxy
  if [ "$DSCENARIO" = 1 ]; then
    wait_port "$gw_h1" "allo-gateway (HTTPS upstream, h1)"
    wait_port "$gw_h2" "allo-gateway (HTTPS upstream, h2)"
    wait_port "$ng_tls" "nginx (HTTPS upstream)"
  fi
  # nginx forks its workers after it listens; give them a moment to exist, then count them.
  local _
  for _ in $(seq 1 100); do
    [ "$(peer_pids "${ROOTPID[nginx]}" | wc -l)" -gt "$workers" ] && break
    sleep 0.05
  done

  # Idle RSS, before any request.
  local key pids
  for key in "${!ROOTPID[@]}"; do
    [ "$key" = d:nginx ] && continue
    mapfile -t pids < <(peer_pids "${ROOTPID[$key]}")
    printf '%s\tidle\t%s\t0\trss_kib=%s processes=%s\n' "$layout" "${key#d:}" \
      "$(status_kib VmRSS "${pids[@]}")" "${#pids[@]}" >>"$RAW"
  done

  for key in gateway nginx haproxy; do check_forwarding "$key" "${PORT[$key]}" HTTP/1.1; done
  [ "$INFO_LOG" = 1 ] && check_forwarding gateway-info "$gw_info" HTTP/1.1
  check_refusals "$gw"
  if [ "$DSCENARIO" = 1 ]; then
    check_forwarding "nginx (HTTPS upstream)" "$ng_tls" HTTP/1.1
    check_forwarding "gateway (HTTPS upstream, h1)" "$gw_h1" HTTP/1.1
    check_forwarding "gateway (HTTPS upstream, h2)" "$gw_h2" HTTP/2.0
  fi
  log "forwarding checked: every proxy injects the key once and forwards the body$([ "$DSCENARIO" = 1 ] && echo "; over TLS, h1 and h2 as offered")"

  local -a peers_a=(direct nginx haproxy gateway) peers_bc=(direct nginx haproxy gateway)
  local -a peers_d=(nginx gateway-h1 gateway-h2)
  [ "$INFO_LOG" = 1 ] && peers_a+=(gateway-info)
  local -a scenarios
  read -r -a scenarios <<<"$SCENARIOS"

  local load_before start peer scenario rep
  load_before="$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' ,)"
  log "layout $layout: warm-up (1 s per peer)"
  for scenario in "${scenarios[@]}"; do
    case "$scenario" in
      a) for peer in "${peers_a[@]}"; do run_wrk "$layout" a "$peer" 0 "$wrk_threads"; done ;;
      b | c) for peer in "${peers_bc[@]}"; do run_wrk "$layout" b "$peer" 0 "$wrk_threads"; done ;;
      d) for peer in "${peers_d[@]}"; do run_wrk "$layout" d "$peer" 0 "$wrk_threads"; done ;;
    esac
  done
  start=$(date +%s)
  local -a order
  for rep in $(seq 1 "$REPS"); do
    for scenario in "${scenarios[@]}"; do
      case "$scenario" in
        a) mapfile -t order < <(rotate "$((rep - 1))" "${peers_a[@]}") ;;
        d) mapfile -t order < <(rotate "$((rep - 1))" "${peers_d[@]}") ;;
        *) mapfile -t order < <(rotate "$((rep - 1))" "${peers_bc[@]}") ;;
      esac
      for peer in "${order[@]}"; do
        run_wrk "$layout" "$scenario" "$peer" "$rep" "$wrk_threads"
        sleep 0.3
      done
    done
  done
  printf '%s\tmeta\t-\t0\tworkers=%s gateway_workers=%s wrk_threads=%s upstream_threads=%s elapsed=%s load_before=%s load_after=%s\n' \
    "$layout" "$workers" "${gateway_workers:-default}" "$wrk_threads" "$upstream_threads" \
    "$(($(date +%s) - start))" "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' ,)" >>"$RAW"
  stop_all
}

run_wrk() { # $1 layout, $2 scenario, $3 peer, $4 rep (0 = warm-up, not recorded), $5 wrk threads
  local layout=$1 scenario=$2 peer=$3 rep=$4 threads=$5 key port script path method body duration
  key=$peer
  [ "$scenario" = d ] && key="d:$peer"
  port=${PORT[$key]}
  case "$scenario" in
    a | d) script=closed.lua path=/v2/api/users method=GET body="" duration=$DURATION ;;
    b) script=closed.lua path=/v2/api/dialing-queues/current method=POST body=$RESET_BODY duration=$DURATION ;;
    c) script=fixed.lua path=/v2/api/dialing-queues/current method=POST body=$RESET_BODY duration=$RATE_DURATION ;;
  esac
  [ "$rep" = 0 ] && duration=1
  local line conns_before="" conns_after="" extra="" up_before=""
  if [ "$scenario" = d ]; then
    conns_before=$(upstream_connections "${UPSTREAM_OF[$key]}")
    up_before=$(cpu_ticks "${UPSTREAM_PID[$key]}")
  fi
  measured_wrk line "${ROOTPID[$key]}" "" "$threads" "$CONNS" "$duration" "$script" "$method" "$body" \
    "http://127.0.0.1:$port$path"
  if [ "$scenario" = d ]; then
    conns_after=$(upstream_connections "${UPSTREAM_OF[$key]}")
    extra=" upstream_conns=$((conns_after - conns_before)) upstream_conns_total=$conns_after"
    extra+=" upstream_cpu_ticks=$(($(cpu_ticks "${UPSTREAM_PID[$key]}") - up_before))"
  fi
  [ "$rep" = 0 ] && return 0
  printf '%s\t%s\t%s\t%s\t%s%s\n' "$layout" "$scenario" "$peer" "$rep" "$line" "$extra" >>"$RAW"
  log "$(printf '%-5s %s %-12s rep %s: %s%s' "$layout" "$scenario" "$peer" "$rep" \
    "$(awk '{for (i=1;i<=NF;i++) if ($i ~ /^(requests|p50|p99|status_errors)=/) printf "%s ", $i}' <<<"$line")" "$extra")"
}

for layout in $LAYOUTS; do run_layout "$layout"; done

python3 "$HERE/report.py" "$RAW" \
  --nproc "$NPROC" --cpu "$(cpu_model)" --commit "$(perf_commit)" \
  --date "$(date -u '+%Y-%m-%d %H:%M UTC')" \
  --duration "$DURATION" --rate-duration "$RATE_DURATION" --reps "$REPS" --rate "$RATE" \
  --conns "$CONNS" --versions "$(tool_versions)" \
  ${RESULTS:+--out "$RESULTS"}
