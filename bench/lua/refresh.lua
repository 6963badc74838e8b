-- refresh_token grants, each on a distinct refresh token never used
-- before. run.py mints them beforehand into FILE.0, FILE.1, ... (one file
-- a wrk thread); a thread that runs out stops and says so (exhausted).
-- Arguments: FILE BASIC_CREDENTIALS.
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "common.lua")

local tokens, headers
local next_token = 1
exhausted = 0

function init(args)
    tokens = read_lines(args[1] .. "." .. thread_id)
    headers = {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["Authorization"] = basic_header(args[2]),
    }
end

function request()
    local token = tokens[next_token]
    if token == nil then
        exhausted = 1
        wrk.thread:stop()
        token = "exhausted"
    end
    next_token = next_token + 1
    return wrk.format("POST", nil, headers,
        "grant_type=refresh_token&refresh_token=" .. token)
end
