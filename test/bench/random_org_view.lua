-- wrk script: GET /v1/organizations/{random}/storages[?waste_type=...] over ids 1..ORGS.
-- ORGS, WASTE_TYPE, QUERY (more query text, e.g. "limit=100") and BENCH_KEY (the bearer
-- key) come from the environment (wrk passes none, so they are read through os.getenv).
local orgs = tonumber(os.getenv("ORGS") or "1000")
local waste_type = os.getenv("WASTE_TYPE") or ""
local query = os.getenv("QUERY") or ""
local first = tonumber(os.getenv("FIRST_ORG") or "1")
math.randomseed(os.time())

local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") ..
                      "wrk_common.lua")
local headers = common.headers()

request = function()
    local path = "/v1/organizations/" .. math.random(first, first + orgs - 1) .. "/storages"
    local params = {}
    if waste_type ~= "" then
        params[#params + 1] = "waste_type=" .. waste_type
    end
    if query ~= "" then
        params[#params + 1] = query
    end
    if #params > 0 then
        path = path .. "?" .. table.concat(params, "&")
    end
    return wrk.format("GET", path, headers)
end
