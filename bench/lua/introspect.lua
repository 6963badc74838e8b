-- POST /v2/auth/introspect (RFC 7662) by a resource server, over the
-- same 1,000 valid access tokens as the check.
-- Arguments: TOKEN_FILE BASIC_CREDENTIALS (of a client allowed to
-- introspect).
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "common.lua")

local prepared = {}
local counter

function init(args)
    local headers = {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["Authorization"] = basic_header(args[2]),
    }
    for _, token in ipairs(read_lines(args[1])) do
        table.insert(prepared,
            wrk.format("POST", nil, headers, "token=" .. token))
    end
    counter = thread_id * 7919
end

function request()
    counter = counter + 1
    return prepared[counter % #prepared + 1]
end
