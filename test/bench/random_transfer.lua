-- wrk script: POST /v1/organizations/{random}/transfers {"waste": {"<WASTE_TYPE>": 1..MAX_KG}}
-- over organization ids 1..ORGS (environment; defaults 1000, glass, 3). Each wrk thread
-- gets its own random sequence.
local orgs = tonumber(os.getenv("ORGS") or "1000")
local waste_type = os.getenv("WASTE_TYPE") or "glass"
local max_kg = tonumber(os.getenv("MAX_KG") or "3")
local threads = 0

function setup(thread)
    threads = threads + 1
    thread:set("thread_number", threads)
end

function init(args)
    math.randomseed(os.time() * 1000 + (thread_number or 0))
end

local headers = {["Content-Type"] = "application/json"}

request = function()
    local path = "/v1/organizations/" .. math.random(1, orgs) .. "/transfers"
    local body = '{"waste":{"' .. waste_type .. '":' .. math.random(1, max_kg) .. "}}"
    return wrk.format("POST", path, headers, body)
end
