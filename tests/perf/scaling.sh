#!/usr/bin/env bash
# How the gateway and nginx scale with their worker count, on loopback.
#
#   tests/perf/scaling.sh
#
# For k = 1, 2, … nproc workers (or the counts in WORKER_COUNTS): starts the gateway
# (`--workers k`) and nginx (`worker_processes k`), each pinned with taskset to CPUs 0..k-1,
# and the perf upstream; wrk and the upstream are pinned to the CPUs left over (k..nproc-1).
# At k = nproc none are left, so wrk, the upstream and the proxy share every CPU; the table
# says so. Then, peers alternated in each repetition, wrk runs closed-loop GET /v2/api/users
# and POST /v2/api/dialing-queues/current (the ~100-byte valid body) against each, and the
# table gives requests/s and the proxy's CPU time per request for each worker count: a
# machine with many cores draws the curve. Every run starts from a forwarding check (the team
# key injected once, the body forwarded) and a 1 s warm-up.
#
# Environment (defaults in brackets):
#   WORKER_COUNTS ["1 2 … nproc"]   worker counts to measure
#   DURATION [5]   seconds per run;  REPS [3]  repetitions (the median is shown, with min–max)
#   CONNS [max(64, 8 × nproc)]     wrk connections, the same for every k
#   THREADS []            wrk threads ("" = half the CPUs wrk gets, at least 1)
#   UPSTREAM_THREADS []   perf-upstream threads ("" = half the CPUs it gets, at least 1)
#   SKIP_BUILD [0]  KEEP [0]  GATEWAY_BIN []  as in run.sh
#   OUT []          also write the table there (Markdown)
# Requires: cargo, wrk, nginx, python3, taskset (util-linux).

set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/lib.sh"

WORKER_COUNTS="${WORKER_COUNTS:-$(seq -s ' ' 1 "$NPROC")}"
DURATION="${DURATION:-5}"
REPS="${REPS:-3}"
CONNS="${CONNS:-$((8 * NPROC > 64 ? 8 * NPROC : 64))}"
THREADS="${THREADS:-}"
UPSTREAM_THREADS="${UPSTREAM_THREADS:-}"
KEEP="${KEEP:-0}"
OUT="${OUT:-}"

perf_init scaling
require cargo wrk nginx python3 taskset
for k in $WORKER_COUNTS; do
  [[ "$k" =~ ^[1-9][0-9]*$ ]] && [ "$k" -le "$NPROC" ] || die "WORKER_COUNTS: '$k' is not a number from 1 to $NPROC"
done
perf_build

RAW="$WORK/scaling.tsv"
: >"$RAW"

cpu_range() { # $1 = first, $2 = last: a taskset CPU list
  if [ "$1" = "$2" ]; then echo "$1"; else echo "$1-$2"; fi
}

measure_k() { # $1 = k
  local k=$1 proxy_cpus rest_cpus rest_n shared=0
  proxy_cpus="$(cpu_range 0 $((k - 1)))"
  if [ "$k" -lt "$NPROC" ]; then
    rest_cpus="$(cpu_range "$k" $((NPROC - 1)))" rest_n=$((NPROC - k))
  else
    rest_cpus="$(cpu_range 0 $((NPROC - 1)))" rest_n=$NPROC shared=1
  fi
  local half=$((rest_n / 2 > 1 ? rest_n / 2 : 1))
  local wrk_threads=${THREADS:-$half} upstream_threads=${UPSTREAM_THREADS:-$half}
  if [ "$shared" = 1 ]; then
    log "k=$k: proxy on CPUs $proxy_cpus; wrk (-t $wrk_threads) and the upstream ($upstream_threads thread(s)) share them (no CPU left over)"
  else
    log "k=$k: proxy on CPUs $proxy_cpus; wrk (-t $wrk_threads) and the upstream ($upstream_threads thread(s)) on CPUs $rest_cpus"
  fi

  local up gw ng
  read -r up gw ng <<<"$(free_ports 3)"
  declare -gA PORT=([gateway]=$gw [nginx]=$ng) ROOTPID=()
  start_upstream "upstream-$k" "$up" "$upstream_threads" "$rest_cpus"
  wait_port "$up" perf-upstream
  UPSTREAM_PORT=$up
  gateway_config "$gw" >"$WORK/gateway-$k.toml"
  start_gateway "gateway-$k" "$WORK/gateway-$k.toml" "$k" warn "$proxy_cpus"
  ROOTPID[gateway]=$LAST_PID
  start_nginx "nginx-$k" "$(nginx_config "nginx-$k" "$k" "$ng" "$up")" "$proxy_cpus"
  ROOTPID[nginx]=$LAST_PID
  wait_port "$gw" allo-gateway
  wait_port "$ng" nginx
  check_forwarding gateway "$gw" HTTP/1.1
  check_forwarding nginx "$ng" HTTP/1.1

  local scenario peer rep path method body result
  local -a order=(gateway nginx)
  for rep in $(seq 0 "$REPS"); do
    for scenario in a b; do
      if [ "$scenario" = a ]; then path=/v2/api/users method=GET body=""
      else path=/v2/api/dialing-queues/current method=POST body=$RESET_BODY; fi
      for peer in "${order[@]}"; do
        # rep 0 is the warm-up: 1 s, not recorded.
        measured_wrk result "${ROOTPID[$peer]}" "$rest_cpus" "$wrk_threads" "$CONNS" \
          "$([ "$rep" = 0 ] && echo 1 || echo "$DURATION")" closed.lua "$method" "$body" \
          "http://127.0.0.1:${PORT[$peer]}$path"
        [ "$rep" = 0 ] && continue
        printf '%s\t%s\t%s\t%s\t%s\n' "$k" "$scenario" "$peer" "$rep" "$result" >>"$RAW"
        log "k=$k $scenario $peer rep $rep: $(awk '{for (i=1;i<=NF;i++) if ($i ~ /^(requests|p99|status_errors)=/) printf "%s ", $i}' <<<"$result")"
        sleep 0.3
      done
    done
    order=("${order[1]}" "${order[0]}")
  done
  printf '%s\tmeta\t-\t0\tworkers=%s proxy_cpus=%s rest_cpus=%s shared=%s wrk_threads=%s upstream_threads=%s\n' \
    "$k" "$k" "$proxy_cpus" "$rest_cpus" "$shared" "$wrk_threads" "$upstream_threads" >>"$RAW"
  stop_all
}

for k in $WORKER_COUNTS; do measure_k "$k"; done

python3 "$HERE/report.py" --scaling "$RAW" \
  --nproc "$NPROC" --cpu "$(cpu_model)" --commit "$(perf_commit)" \
  --date "$(date -u '+%Y-%m-%d %H:%M UTC')" --duration "$DURATION" --reps "$REPS" \
  --conns "$CONNS" --versions "$(tool_versions)" ${OUT:+--out "$OUT"}
