-- The authorization code exchange for wrk (bench/run.sh's code_exchange scenario): every
-- request redeems the next code of the file, once (a second use would be a replay, which
-- ends the session it started), with the redirect URI and PKCE verifier the codes were
-- stored with. Environment:
--   BENCH_CODES_FILE   codes, one a line (bench_sessions ... codes): more than the run
--                      redeems, or the rest of the requests carry a dead code and show up
--                      among the non-2xx responses
--   BENCH_AUTH         the client's Authorization header value
--   BENCH_REDIRECT_URI the redirect URI the codes are bound to
--   BENCH_VERIFIER     the PKCE verifier of their challenge
--   BENCH_COUNT_STATUS when set, count responses per status code (bench/status_count.lua)
-- One wrk thread (-t1): each thread reads the whole file, so two would redeem each code
-- twice.

local codes, next_code = {}, 1
local auth = os.getenv("BENCH_AUTH") or ""

local function escape(text)
  return (text:gsub("[^%w%-._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local fixed = "grant_type=authorization_code&redirect_uri=" .. escape(os.getenv("BENCH_REDIRECT_URI") or "")
  .. "&code_verifier=" .. escape(os.getenv("BENCH_VERIFIER") or "") .. "&code="

function init(args)
  local file = os.getenv("BENCH_CODES_FILE")
  assert(file and file ~= "", "BENCH_CODES_FILE names the codes' file")
  for line in io.lines(file) do
    if line ~= "" then
      codes[#codes + 1] = line
    end
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Authorization"] = auth
end

function request()
  local code = codes[next_code] or "exhausted"
  codes[next_code] = nil
  next_code = next_code + 1
  return wrk.format(nil, nil, nil, fixed .. code)
end

local count_status = os.getenv("BENCH_COUNT_STATUS")
if count_status and count_status ~= "" then
  local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
  dofile(dir .. "status_count.lua").install(nil)
end
