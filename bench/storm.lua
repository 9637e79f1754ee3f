-- wrk script for bench/storm.py: pledges (each with a fresh idempotency key, backers
-- in turn) or the trivial `{ __typename }` query. Environment: STORM_MODE (pledge |
-- trivial), STORM_RUN (a prefix unique to the phase), STORM_CAMPAIGN, STORM_TOKENS
-- (a file, one bearer token a line). Prints one line "STORM {json}" at the end.

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

local mode = os.getenv("STORM_MODE") or "trivial"
local QUERY = "mutation($i: PledgeInput!) { pledge(input: $i) { __typename "
  .. "... on PledgeSaved { position pledge { id status amount shares } } "
  .. "... on Problem { code message } } }"
local TRIVIAL = '{"query":"{ __typename }"}'
local tokens = {}
local prefix = ""
local campaign = ""
counter = 0  -- requests made (globals: read by done() through thread:get)
ok, refused, other = 0, 0, 0

function init(args)
  prefix = (os.getenv("STORM_RUN") or "run") .. "-" .. tostring(id)
  campaign = os.getenv("STORM_CAMPAIGN") or ""
  local path = os.getenv("STORM_TOKENS")
  if path then
    for line in io.lines(path) do tokens[#tokens + 1] = line end
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = TRIVIAL
end

function request()
  if mode == "trivial" then
    return wrk.format("POST", "/graphql", {["Content-Type"] = "application/json"}, TRIVIAL)
  end
  counter = counter + 1
  local token = tokens[(counter + id * 97) % #tokens + 1]
  local body = '{"query":"' .. QUERY .. '","variables":{"i":{"campaignId":"' .. campaign
    .. '","amount":"10.00","idempotencyKey":"' .. prefix .. "-" .. counter
    .. '","acknowledgeRisk":true}}}'
  return wrk.format("POST", "/graphql",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end

function response(status, headers, body)
  if status ~= 200 then
    other = other + 1
  elseif mode == "trivial" then
    if string.find(body, '"Query"', 1, true) then ok = ok + 1 else other = other + 1 end
  elseif string.find(body, '"PledgeSaved"', 1, true) then
    ok = ok + 1
  elseif string.find(body, '"errors"', 1, true) then
    other = other + 1
  else
    refused = refused + 1
  end
end

function done(summary, latency, requests)
  local a, r, o, sent = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("ok"); r = r + t:get("refused"); o = o + t:get("other")
    sent = sent + t:get("counter")
  end
  local e = summary.errors
  io.write(string.format(
    'STORM {"ok": %d, "refused": %d, "other": %d, "sent": %d, "requests": %d, "seconds": %.3f, '
    .. '"p50_ms": %.1f, "p90_ms": %.1f, "p99_ms": %.1f, "max_ms": %.1f, '
    .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    a, r, o, sent, summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3,
    latency:percentile(99) / 1e3, latency.max / 1e3,
    e.connect, e.read, e.write, e.status, e.timeout))
end
