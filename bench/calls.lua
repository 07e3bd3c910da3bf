-- wrk script: send the requests of a calls file (bench/common.py writes it), each thread its
-- share in turn, and print the run's figures as one JSON line.
--
--   wrk -s bench/calls.lua URL -- CALLS_FILE THREADS
--
-- A calls file holds requests one after another: a line "METHOD TARGET HEADERS BODY_BYTES",
-- HEADERS lines "Name: value", then the body's bytes.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local function read_calls(path)
  local file = assert(io.open(path, "rb"))
  local calls = {}
  while true do
    local line = file:read("*l")
    if not line then break end
    local method, target, count, size = line:match("^(%S+) (%S+) (%d+) (%d+)$")
    assert(method, "bad calls file line: " .. line)
    local headers = {}
    for _ = 1, tonumber(count) do
      local name, value = file:read("*l"):match("^([^:]+): (.*)$")
      headers[name] = value
    end
    local body = nil
    if tonumber(size) > 0 then body = file:read(tonumber(size)) end
    calls[#calls + 1] = { method, target, headers, body }
  end
  file:close()
  return calls
end

local requests = {}
local next_index = 1

function init(args)
  local calls = read_calls(args[1])
  local count = tonumber(args[2])
  for index = id + 1, #calls, count do
    local call = calls[index]
    requests[#requests + 1] = wrk.format(call[1], call[2], call[3], call[4])
  end
  assert(#requests > 0, "no requests for thread " .. id)
  wrapped = false
end

function request()
  local answer = requests[next_index]
  next_index = next_index + 1
  if next_index > #requests then
    next_index = 1
    wrapped = true
  end
  return answer
end

function done(summary, latency, _)
  local any_wrapped = false
  for _, thread in ipairs(threads) do
    if thread:get("wrapped") then any_wrapped = true end
  end
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.6f, "p50_ms": %.4f, "p99_ms": %.4f, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"wrapped": %s}\n',
    summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    tostring(any_wrapped)))
end
