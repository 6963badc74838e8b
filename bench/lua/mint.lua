-- Not a measurement: mints tokens before one, by client_credentials
-- grants, and writes each answer's refresh and access token to
-- PREFIX.refresh.N and PREFIX.access.N (N: the wrk thread). A thread
-- stops after COUNT answers.
-- Arguments: BASIC_CREDENTIALS PREFIX COUNT.
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "common.lua")

local prepared, refresh_file, access_file
local wanted, minted = 0, 0

function init(args)
    prepared = wrk.format("POST", nil, {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["Authorization"] = basic_header(args[1]),
    }, "grant_type=client_credentials")
    refresh_file = io.open(args[2] .. ".refresh." .. thread_id, "w")
    access_file = io.open(args[2] .. ".access." .. thread_id, "w")
    refresh_file:setvbuf("line")
    access_file:setvbuf("line")
    wanted = tonumber(args[3])
end

function request()
    return prepared
end

function response(status, headers, body)
    if status ~= 200 or minted >= wanted then
        return
    end
    local refresh = body:match('"refresh_token":"([^"]+)"')
    local access = body:match('"access_token":"([^"]+)"')
    if refresh and access then
        refresh_file:write(refresh, "\n")
        access_file:write(access, "\n")
        minted = minted + 1
    end
    if minted >= wanted then
        refresh_file:flush()
        access_file:flush()
        wrk.thread:stop()
    end
end
