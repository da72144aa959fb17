-- Shared by the wrk scripts of this folder, loaded with dofile from the script's own folder:
--   local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") ..
--                         "wrk_common.lua")
local common = {}

-- The request headers: the bearer key (BENCH_KEY; none when empty) and, when given, the
-- body's content type.
function common.headers(content_type)
    local headers = {}
    if content_type then
        headers["Content-Type"] = content_type
    end
    local key = os.getenv("BENCH_KEY") or ""
    if key ~= "" then
        headers["Authorization"] = "Bearer " .. key
    end
    return headers
end

return common
