-- One request, repeated on every connection; configured from the environment by bench/run:
--   BENCH_METHOD  GET or POST
--   BENCH_BODY    a JSON body (POST), sent with Content-Type: application/json
--   BENCH_BEARER  an access token for Authorization: Bearer
--   BENCH_TOKENS  a file of access tokens, one a line: instead of BENCH_BODY, each request
--                 has the body {"token": ...} with the next token of the file, in turn (each
--                 wrk thread starting at another place); the requests are formatted once,
--                 at the start
-- The URL (and path) is wrk's argument. done() prints one RESULT line in the format of
-- tessera-loadgen refresh: 2xx per second, p50, p99, max (microseconds), errors (non-2xx
-- and socket errors), all responses, detail. wrk counts a response as a status error
-- when its status is 400 or more; 3xx never happen on these endpoints.

local method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
local bearer = os.getenv("BENCH_BEARER")

wrk.method = method
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
if bearer and bearer ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. bearer
end

local tokens = os.getenv("BENCH_TOKENS")
if tokens and tokens ~= "" then
  local threads = 0
  function setup(thread)
    thread:set("thread_number", threads)
    threads = threads + 1
  end

  local formatted = {}
  local next_one = 1
  function init(args)
    wrk.headers["Content-Type"] = "application/json"
    for token in io.lines(tokens) do
      if token ~= "" then
        table.insert(formatted, wrk.format(method, nil, nil, '{"token":"' .. token .. '"}'))
      end
    end
    assert(#formatted > 0, "no token in " .. tokens)
    next_one = ((thread_number or 0) * 7919) % #formatted + 1
  end

  function request()
    local r = formatted[next_one]
    next_one = next_one % #formatted + 1
    return r
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local socket = e.connect + e.read + e.write + e.timeout
  local seconds = summary.duration / 1e6
  local detail = {}
  if e.status > 0 then table.insert(detail, "status>=400=" .. e.status) end
  if e.connect > 0 then table.insert(detail, "connect=" .. e.connect) end
  if e.read > 0 then table.insert(detail, "read=" .. e.read) end
  if e.write > 0 then table.insert(detail, "write=" .. e.write) end
  if e.timeout > 0 then table.insert(detail, "timeout=" .. e.timeout) end
  local d = table.concat(detail, ",")
  if d == "" then d = "-" end
  io.write(string.format("RESULT\t%.1f\t%d\t%d\t%d\t%d\t%d\t%s\n",
    (summary.requests - e.status) / seconds,
    latency:percentile(50), latency:percentile(99), latency.max,
    e.status + socket, summary.requests, d))
end
