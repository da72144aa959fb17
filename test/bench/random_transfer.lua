-- wrk script: POST /v1/organizations/{random}/transfers {"waste": {"<type>": 1..MAX_KG}}
-- over organization ids FIRST_ORG..FIRST_ORG+ORGS-1 (environment; defaults 1, 1000), the
-- type drawn from WASTE_TYPE, a comma-separated list (default glass), with the bearer key
-- BENCH_KEY. Each wrk thread gets its own random sequence.
local orgs = tonumber(os.getenv("ORGS") or "1000")
local first = tonumber(os.getenv("FIRST_ORG") or "1")
local max_kg = tonumber(os.getenv("MAX_KG") or "3")
local types = {}
for code in string.gmatch(os.getenv("WASTE_TYPE") or "glass", "[^,]+") do
    types[#types + 1] = code
end
local threads = 0

function setup(thread)
    threads = threads + 1
    thread:set("thread_number", threads)
end

function init(args)
    math.randomseed(os.time() * 1000 + (thread_number or 0))
end

local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") ..
                      "wrk_common.lua")
local headers = common.headers("application/json")

request = function()
    local path = "/v1/organizations/" .. math.random(first, first + orgs - 1) .. "/transfers"
    local body = '{"waste":{"' .. types[math.random(1, #types)] .. '":' ..
        math.random(1, max_kg) .. "}}"
    return wrk.format("POST", path, headers, body)
end
