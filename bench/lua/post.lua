-- The same POST on every request: the token request of client_credentials
-- (tokend, the peers) and the nginx ceiling answering it.
-- Arguments: BODY BASIC_CREDENTIALS (base64 of id:secret).
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "common.lua")

local prepared

function init(args)
    prepared = wrk.format("POST", nil, {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["Authorization"] = basic_header(args[2]),
    }, args[1])
end

function request()
    return prepared
end
