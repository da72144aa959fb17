-- wrk script: POST /v1/movements/{id}/receipt {"received_kg": <planned>, "ticket": "..."} over
-- the movements listed in IDS_FILE ("id planned_kg" per line: the movements in transit when
-- the run starts), each movement once: wrk thread n of WRK_THREADS (default 2) takes the
-- lines n, n + WRK_THREADS, ... in order. Received = planned, nothing refused, so each
-- receipt is accepted in full and the run measures the receipt itself (no variance warning,
-- no refused kilograms to place again). When a thread runs out of movements it starts its
-- list again; those receipts answer 409 and show as wrk's non-2xx: the run outlasted the
-- movements in transit. BENCH_KEY: the bearer key (admin or the storages' own).
local ids_file = os.getenv("IDS_FILE") or "ids.txt"
local nthreads = tonumber(os.getenv("WRK_THREADS") or "2")
local threads = 0

function setup(thread)
    threads = threads + 1
    thread:set("thread_number", threads)
end

local mine = {}
local next_index = 1

function init(args)
    local n = 0
    for line in io.lines(ids_file) do
        local id, kg = string.match(line, "^(%d+)%s+(%d+)")
        if id then
            if n % nthreads == (thread_number or 1) - 1 then
                mine[#mine + 1] = {id, kg}
            end
            n = n + 1
        end
    end
end

local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") ..
                      "wrk_common.lua")
local headers = common.headers("application/json")

request = function()
    if #mine == 0 then
        return wrk.format("POST", "/v1/movements/0/receipt", headers, "{}")
    end
    local m = mine[next_index]
    next_index = next_index % #mine + 1
    local body = '{"received_kg":' .. m[2] .. ',"ticket":"bench-' .. m[1] .. '"}'
    return wrk.format("POST", "/v1/movements/" .. m[1] .. "/receipt", headers, body)
end
