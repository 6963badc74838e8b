-- GET /v2/auth/check as a gateway sends it: 1,000 distinct valid tokens,
-- each reused many times, and one request in 20 (5%) with an invalid
-- token (a forged signature or a truncated token), in a fixed order so
-- that the expected count of 401 answers is known (sent_invalid).
-- Arguments: VALID_FILE INVALID_FILE.
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "common.lua")

local valid, invalid = {}, {}
local counter
sent_invalid = 0

local function prepare(tokens)
    local requests = {}
    for _, token in ipairs(tokens) do
        table.insert(requests, wrk.format("GET", nil,
            {["Authorization"] = "Bearer " .. token}, nil))
    end
    return requests
end

function init(args)
    valid = prepare(read_lines(args[1]))
    invalid = prepare(read_lines(args[2]))
    counter = thread_id * 7919
end

function request()
    counter = counter + 1
    if counter % 20 == 0 and #invalid > 0 then
        sent_invalid = sent_invalid + 1
        return invalid[(counter / 20) % #invalid + 1]
    end
    return valid[counter % #valid + 1]
end
