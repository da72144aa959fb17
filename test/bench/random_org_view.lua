-- wrk script: GET /v1/organizations/{random}/storages[?waste_type=...] over ids 1..ORGS.
-- ORGS and WASTE_TYPE come from the environment (wrk passes none, so they are baked in
-- by the calling script through os.getenv).
local orgs = tonumber(os.getenv("ORGS") or "1000")
local waste_type = os.getenv("WASTE_TYPE") or ""
math.randomseed(os.time())

request = function()
    local path = "/v1/organizations/" .. math.random(1, orgs) .. "/storages"
    if waste_type ~= "" then
        path = path .. "?waste_type=" .. waste_type
    end
    return wrk.format("GET", path)
end
