-- Shared by every wrk script of bench/run.py: numbers the threads, keeps
-- them so done() can read their counters, and prints one JSON line that
-- run.py parses instead of wrk's text summary.
local threads = {}

function setup(thread)
    thread:set("thread_id", #threads)
    thread:set("thread_count", 0)
    table.insert(threads, thread)
    for _, t in ipairs(threads) do
        t:set("thread_count", #threads)
    end
end

-- Reads one token a line; an absent file is an empty list.
function read_lines(path)
    local lines = {}
    local file = io.open(path, "r")
    if file == nil then
        return lines
    end
    for line in file:lines() do
        if #line > 0 then
            table.insert(lines, line)
        end
    end
    file:close()
    return lines
end

function basic_header(credentials)
    return "Basic " .. credentials
end

function done(summary, latency, requests)
    local sent_invalid, exhausted = 0, 0
    for _, t in ipairs(threads) do
        sent_invalid = sent_invalid + (t:get("sent_invalid") or 0)
        exhausted = exhausted + (t:get("exhausted") or 0)
    end
    local e = summary.errors
    io.write(string.format(
        'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
        '"connect_errors":%d,"read_errors":%d,"write_errors":%d,' ..
        '"timeouts":%d,"non_2xx":%d,"p50_us":%d,"p90_us":%d,' ..
        '"p99_us":%d,"max_us":%d,"mean_us":%.1f,"sent_invalid":%d,' ..
        '"exhausted":%d}\n',
        summary.requests, summary.duration, summary.bytes, e.connect,
        e.read, e.write, e.timeout, e.status, latency:percentile(50),
        latency:percentile(90), latency:percentile(99), latency.max,
        latency.mean, sent_invalid, exhausted))
end
