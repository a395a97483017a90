-- wrk script: POST the body in $BENCH_BODY with $BENCH_AUTH, and print a JSON summary at the end.
wrk.method = "POST"
wrk.body = io.open(os.getenv("BENCH_BODY")):read("*a")
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end

-- $BENCH_DELAY_MS > 0 paces each connection (a steady rate below peak, for soak runs).
local pace = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
if pace > 0 then
  function delay() return pace end
end

-- $BENCH_RETRY_AFTER=1: after each 429 or 503 with Retry-After, one next request waits as long,
-- as Flow does (the noisy-neighbour bench's polite flood). wrk asks delay() when a connection
-- is next writable, not necessarily right after that connection's response() (one event loop
-- pass reads many), so refusals are counted and each delays one request: the flood's rate is a
-- polite client's, though the delayed connection may be another one.
if os.getenv("BENCH_RETRY_AFTER") == "1" then
  local owed = {}
  function response(status, headers, body)
    local after = headers["retry-after"] or headers["Retry-After"]
    if (status == 429 or status == 503) and after then
      owed[#owed + 1] = (tonumber(after) or 1) * 1000
    end
  end
  function delay()
    local ms = table.remove(owed) or 0
    return ms + pace
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "p999_us": %d, ' ..
    '"max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
