-- The soak test's own traffic for wrk (bench/soak.sh), chosen by SOAK_MODE; every
-- response's status is counted (bench/status_count.lua).
--
-- SOAK_MODE=introspect: POST /oauth/introspect, the bodies of SOAK_BODIES (one a line,
--   e.g. token=… of a client's token and of a user's) in turn, with BENCH_AUTH (the
--   introspecting client's Authorization). Answers saying "active":false are counted
--   apart ("tag inactive: N"): a token the soak still holds should stay active.
--
-- SOAK_MODE=admin: admin API writes with BENCH_AUTH (Bearer admin key) that leave the
--   set of clients and secrets as it was: in turn, create a client in tenant SOAK_TENANT,
--   add a secret to its client SOAK_CLIENT, and PUT the tenant's metadata; every created
--   client and secret is deleted by the next request of the thread. Each write is also an
--   audit event, so the database grows by one row a write (and the change feed by its
--   entries, pruned by the server).

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local status_count = dofile(dir .. "status_count.lua")

local traffic = os.getenv("SOAK_MODE") or ""
local auth = os.getenv("BENCH_AUTH") or ""

local function json_headers()
  return { ["Content-Type"] = "application/json", ["Authorization"] = auth }
end

if traffic == "introspect" then
  local prepared, next_index = {}, 0
  function init(args)
    local headers = {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Authorization"] = auth,
    }
    for body in (os.getenv("SOAK_BODIES") or ""):gmatch("[^\n]+") do
      prepared[#prepared + 1] = wrk.format("POST", "/oauth/introspect", headers, body)
    end
    assert(#prepared > 0, "SOAK_BODIES holds no body")
  end
  function request()
    next_index = next_index % #prepared + 1
    return prepared[next_index]
  end
  status_count.install(function(status, headers, body)
    if status == 200 and body:find('"active":false', 1, true) then
      return "inactive"
    end
  end)
elseif traffic == "admin" then
  local tenant = assert(os.getenv("SOAK_TENANT"), "SOAK_TENANT is not set")
  local client = assert(os.getenv("SOAK_CLIENT"), "SOAK_CLIENT is not set")
  local secrets_path = "/api/v1/tenants/clients/" .. client .. "/tokens"
  local deletions, first, last = {}, 1, 0
  local step, serial = 0, 0
  -- The thread's own prefix keeps names unique across wrk threads and runs.
  local prefix = string.format("soak-%d-%d", os.time(), math.random(1, 1e9))

  function request()
    if first <= last then
      local path = deletions[first]
      deletions[first] = nil
      first = first + 1
      return wrk.format("DELETE", path, json_headers(), nil)
    end
    step = step % 3 + 1
    serial = serial + 1
    local name = prefix .. "-" .. serial
    if step == 1 then
      return wrk.format("POST", "/api/v1/oauth-clients", json_headers(), string.format(
        '{"tenantId": "%s", "name": "%s", "description": "soak test client",'
          .. ' "accessTokenValiditySeconds": 3600, "grantTypes": ["CLIENT_CREDENTIALS"],'
          .. ' "accessType": "ONLINE", "enabled": true}', tenant, name))
    elseif step == 2 then
      return wrk.format("POST", secrets_path, json_headers(),
        string.format('{"name": "%s"}', name))
    end
    return wrk.format("PUT", "/api/v1/tenants/" .. tenant, json_headers(),
      string.format('{"name": "Soak", "metadata": {"round": "%d"}}', serial))
  end

  -- A created client's answer starts {"secret":"…","id":"…", a secret's {"id":N,…,"token":.
  status_count.install(function(status, headers, body)
    if status ~= 200 or not body then
      return
    end
    if body:find('"secret":"', 1, true) then
      local id = body:match('"id":"([^"]+)"')
      if id then
        last = last + 1
        deletions[last] = "/api/v1/oauth-clients/" .. id
      end
    elseif body:find('"token":"', 1, true) then
      local id = body:match('^{"id":(%d+)')
      if id then
        last = last + 1
        deletions[last] = secrets_path .. "/" .. id
      end
    end
  end)
else
  error("SOAK_MODE must be introspect or admin, not '" .. traffic .. "'")
end
