-- Counting responses by status for the wrk scripts of bench/ (request.lua, refresh.lua,
-- soak.lua). A script beside it loads it with
--   local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
--   dofile(dir .. "status_count.lua").install(on_response)
-- where on_response(status, headers, body) is the script's own hook, or nil; when it
-- returns a string, that tag is counted too, and printed as "tag NAME: COUNT".
-- It defines wrk's setup(), response() and done() hooks: response() counts each status
-- in the thread's global `statuses` (then calls on_response), done() adds up every
-- thread's counts and prints them after wrk's report as "status NNN: COUNT" lines,
-- which bench/report.py reads. A response() hook costs wrk a Lua call per response.

local M = {}

function M.install(on_response)
  local threads = {}
  function setup(thread)
    threads[#threads + 1] = thread
  end
  statuses, tags = {}, {}
  function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
    if on_response then
      local tag = on_response(status, headers, body)
      if tag then
        tags[tag] = (tags[tag] or 0) + 1
      end
    end
  end
  function done(summary, latency, requests)
    local total, total_tags = {}, {}
    for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("statuses")) do
        total[status] = (total[status] or 0) + count
      end
      for tag, count in pairs(thread:get("tags")) do
        total_tags[tag] = (total_tags[tag] or 0) + count
      end
    end
    for status, count in pairs(total) do
      io.write(string.format("status %d: %d\n", status, count))
    end
    for tag, count in pairs(total_tags) do
      io.write(string.format("tag %s: %d\n", tag, count))
    end
  end
end

return M
