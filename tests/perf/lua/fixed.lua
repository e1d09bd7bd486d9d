-- Fixed-rate (open-loop, approximately) load for tests/perf/run.sh. wrk has no rate option
-- (wrk2 is not packaged), so this script paces it:
--
-- * Each wrk thread owns a schedule of send slots, PERF_RATE / PERF_THREADS per second, fixed
--   from the start of the run (slot k = t0 + k * interval). Whenever one of the thread's
--   connections is free, wrk asks delay() and the connection takes the next slot. delay() is in
--   whole milliseconds (wrk's timer wheel), so it aims about a millisecond early: sends jitter
--   by up to ~2 ms around their slots, and the offered rate holds on average.
-- * Latency is measured from min(slot, actual send): a request that goes out early is timed
--   from when it was sent; a request that goes out late (every connection was busy waiting
--   for slow answers, or wrk itself was starved of CPU) is timed from its slot, so a stall is
--   charged in full instead of hidden (the coordinated-omission correction of wrk2).
-- * Responses are matched to their send time by X-Request-Id, which every peer returns (the
--   gateway keeps a caller's acceptable id; nginx and HAProxy pass the upstream's echo through).
--
-- Environment: PERF_RATE (total requests/s), PERF_THREADS (wrk -t), PERF_METHOD, PERF_BODY,
-- PERF_TOKEN as in closed.lua. done() prints one line starting with "PERF " (microseconds).

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } perf_timespec;
  int clock_gettime(int clock_id, perf_timespec *tp);
]]
local ts = ffi.new("perf_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local rate = tonumber(os.getenv("PERF_RATE") or "5000")
local nthreads = tonumber(os.getenv("PERF_THREADS") or "2")
local method = os.getenv("PERF_METHOD") or "GET"
local body = os.getenv("PERF_BODY")
if body == "" then body = nil end
local token = os.getenv("PERF_TOKEN")

local base_headers = {}
if body then base_headers["Content-Type"] = "application/json" end
if token and token ~= "" then base_headers["Authorization"] = "Bearer " .. token end

-- Main state: number the threads.
local threads = {}
function setup(thread)
  thread:set("thread_no", #threads + 1)
  table.insert(threads, thread)
end

-- Thread states.
local interval_us, t0, k
local slots, slot_head, slot_tail = {}, 1, 0
local starts = {}
local seq = 0
lat, lat_n = {}, 0
late, unmatched, bad_status, sent = 0, 0, 0, 0

function init(args)
  interval_us = 1000000 * nthreads / rate
  -- Stagger the threads' schedules so their slots interleave.
  t0 = now_us() + 1000 + (thread_no - 1) * interval_us / nthreads
  k = 0
end

function delay()
  local slot = t0 + k * interval_us
  k = k + 1
  slot_tail = slot_tail + 1
  slots[slot_tail] = slot
  local ms = math.floor((slot - now_us()) / 1000) - 1
  if ms < 0 then return 0 end
  return ms
end

function request()
  local t = now_us()
  local start = t
  if slot_head <= slot_tail then
    local slot = slots[slot_head]
    slots[slot_head] = nil
    slot_head = slot_head + 1
    if slot < t then
      start = slot
      if t - slot > 2000 then late = late + 1 end
    end
  end
  seq = seq + 1
  sent = sent + 1
  local id = "perf-" .. thread_no .. "-" .. seq
  starts[id] = start
  local headers = { ["X-Request-Id"] = id }
  for name, value in pairs(base_headers) do headers[name] = value end
  return wrk.format(method, nil, headers, body)
end

function response(status, headers, _)
  local t = now_us()
  if status ~= 200 then bad_status = bad_status + 1 end
  local id = headers["x-request-id"] or headers["X-Request-Id"]
  local start = id and starts[id]
  if start then
    starts[id] = nil
    lat_n = lat_n + 1
    lat[lat_n] = t - start
  else
    unmatched = unmatched + 1
  end
end

function done(summary, latency, requests)
  local all = {}
  local n, late_sum, unmatched_sum, bad_sum, sent_sum = 0, 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    local l = thread:get("lat")
    local ln = thread:get("lat_n") or 0
    for i = 1, ln do
      n = n + 1
      all[n] = l[i]
    end
    late_sum = late_sum + (thread:get("late") or 0)
    unmatched_sum = unmatched_sum + (thread:get("unmatched") or 0)
    bad_sum = bad_sum + (thread:get("bad_status") or 0)
    sent_sum = sent_sum + (thread:get("sent") or 0)
  end
  table.sort(all)
  local sum = 0
  for i = 1, n do sum = sum + all[i] end
  local mean = n > 0 and sum / n or 0
  local function pct(p)
    if n == 0 then return 0 end
    local i = math.ceil(p / 100 * n)
    if i < 1 then i = 1 end
    return all[i]
  end
  local e = summary.errors
  io.write(string.format(
    "PERF requests=%d duration_us=%d p50=%d p75=%d p90=%d p99=%d p999=%d max=%d mean=%.1f " ..
    "connect_errors=%d read_errors=%d write_errors=%d status_errors=%d timeouts=%d " ..
    "timed=%d sent=%d late=%d unmatched=%d bad_status=%d " ..
    "wrk_p50=%d wrk_p99=%d wrk_p999=%d\n",
    summary.requests, summary.duration,
    pct(50), pct(75), pct(90), pct(99), pct(99.9), pct(100), mean,
    e.connect, e.read, e.write, e.status, e.timeout,
    n, sent_sum, late_sum, unmatched_sum, bad_sum,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
