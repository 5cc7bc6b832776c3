-- One request for wrk, described by the environment (bench/run.sh sets it):
--   BENCH_METHOD        GET (default) or POST
--   BENCH_BODY          the request body, sent as application/x-www-form-urlencoded
--   BENCH_AUTH          Authorization header values, one per line; several alternate
--                       request by request (e.g. two clients' Basic credentials)
--   BENCH_AUTH_FILE     the same from a file (for thousands of clients, more than the
--                       environment holds); used when BENCH_AUTH is empty
--   BENCH_COUNT_STATUS  when set, count responses per status code and print them as
--                       "status NNN: COUNT" after wrk's report (costs wrk some speed)
-- With one Authorization value the request is static: wrk sends it with no Lua call.

local method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
local auths = {}
for line in (os.getenv("BENCH_AUTH") or ""):gmatch("[^\n]+") do
  auths[#auths + 1] = line
end
local auth_file = os.getenv("BENCH_AUTH_FILE")
if #auths == 0 and auth_file and auth_file ~= "" then
  for line in io.lines(auth_file) do
    if line ~= "" then
      auths[#auths + 1] = line
    end
  end
end

wrk.method = method
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end
if #auths == 1 then
  wrk.headers["Authorization"] = auths[1]
end

if #auths > 1 then
  local prepared = {}
  local next_index = 0
  function init(args)
    for i, auth in ipairs(auths) do
      local headers = {}
      for name, value in pairs(wrk.headers) do
        headers[name] = value
      end
      headers["Authorization"] = auth
      prepared[i] = wrk.format(method, wrk.path, headers, wrk.body)
    end
  end
  function request()
    next_index = next_index % #prepared + 1
    return prepared[next_index]
  end
end

local count_status = os.getenv("BENCH_COUNT_STATUS")
if count_status and count_status ~= "" then
  -- status_count.lua lies beside this script.
  local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
  dofile(dir .. "status_count.lua").install(nil)
end
