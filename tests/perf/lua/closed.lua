-- Closed-loop load for tests/perf/run.sh: every connection sends its next request as soon as
-- the previous answer arrives. The request is static (no Lua runs per request):
--   PERF_METHOD  GET or POST (default GET)
--   PERF_BODY    request body (POST), sent with Content-Type: application/json
--   PERF_TOKEN   caller token, sent as Authorization: Bearer <token>
-- done() prints one machine-readable line starting with "PERF " (latencies in microseconds).

wrk.method = os.getenv("PERF_METHOD") or "GET"
local body = os.getenv("PERF_BODY")
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
local token = os.getenv("PERF_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "PERF requests=%d duration_us=%d p50=%d p75=%d p90=%d p99=%d p999=%d max=%d mean=%.1f " ..
    "connect_errors=%d read_errors=%d write_errors=%d status_errors=%d timeouts=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
