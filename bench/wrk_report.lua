-- wrk hooks for bench/run.py.
-- GET by default. With BENCH_WRK_BODIES (a file, one JSON body a line) every request is a POST
-- of the next body in turn, so a load run can spread its questions over many identities.
local bodies = {}
local path = os.getenv("BENCH_WRK_BODIES")
if path and path ~= "" then
  for line in io.lines(path) do
    if line ~= "" then bodies[#bodies + 1] = line end
  end
end

if #bodies > 0 then
  local n = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  init = function(args)
    n = math.random(#bodies)  -- threads start at different questions
  end
  request = function()
    n = n % #bodies + 1
    return wrk.format(nil, nil, nil, bodies[n])
  end
end

-- One JSON line with the percentiles the harness needs.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH-WRK {"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, ' ..
    '"errors": %d, "status_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout, e.status))
end
