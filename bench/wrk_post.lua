-- POST bodies for wrk (bench/roundtrip.py): each request a JSON body from a template.
--
--   WRK_BODY=<json with {n}> WRK_AUTHORIZATION="Bearer …" wrk -s bench/wrk_post.lua URL
--
-- "{n}" in the template becomes a number unique per thread and request (a case
-- reference, so that no two messages say the same). WRK_AUTHORIZATION is optional.

local template = os.getenv("WRK_BODY") or "{}"
local authorization = os.getenv("WRK_AUTHORIZATION")
local counter = 0
local threads_started = 0 -- counted in the setup state; each thread gets its own thread_id

function setup(thread)
  threads_started = threads_started + 1
  thread:set("thread_id", threads_started)
end

function init(_args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if authorization and authorization ~= "" then
    wrk.headers["Authorization"] = authorization
  end
end

function request()
  counter = counter + 1
  local body = template:gsub("{n}", (thread_id or 0) .. "-" .. counter)
  return wrk.format(nil, nil, nil, body)
end
