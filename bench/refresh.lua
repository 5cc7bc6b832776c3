-- Refresh-token rotation for wrk (bench/run.sh's refresh scenario). Every session is a
-- chain: a request takes the chain's latest refresh token, the response brings the
-- next one, which goes back at the end of the queue. Each token is therefore sent once
-- (a second use would be reuse and kill its family), and the sessions are refreshed in
-- turn. Environment:
--   BENCH_TOKENS_FILE  refresh tokens, one a line: one chain each; there must be more
--                      than wrk connections, or connections wait for none
--   BENCH_AUTH         the client's Authorization header value
--   BENCH_COUNT_STATUS when set, count responses per status code (bench/status_count.lua)
-- A refused refresh drops its chain; when none is left the request carries a dead
-- token and shows up among the non-2xx responses.

local queue, first, last = {}, 1, 0
local auth = os.getenv("BENCH_AUTH") or ""

function init(args)
  for line in io.lines(os.getenv("BENCH_TOKENS_FILE")) do
    if line ~= "" then
      last = last + 1
      queue[last] = line
    end
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Authorization"] = auth
end

function request()
  local token = "exhausted"
  if first <= last then
    token = queue[first]
    queue[first] = nil
    first = first + 1
  end
  return wrk.format(nil, nil, nil, "grant_type=refresh_token&refresh_token=" .. token)
end

local function take_next_token(status, headers, body)
  if status == 200 then
    local token = body:match('"refresh_token":"([^"]+)"')
    if token then
      last = last + 1
      queue[last] = token
    end
  end
end

local count_status = os.getenv("BENCH_COUNT_STATUS")
if count_status and count_status ~= "" then
  local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
  dofile(dir .. "status_count.lua").install(take_next_token)
else
  response = take_next_token
end
