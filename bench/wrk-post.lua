-- bench/wrk-post.lua - wrk's script for bench/run's outside run (f): POST the
-- JSON-RPC body of the file named by WRK_BODY to the daemon over keep-alive
-- HTTP, check every answer for a "result", and print one line of figures:
--   wrk_result requests=N bad=N seconds=S rate=R p50_us=U p99_us=U
-- (bad: answers without a result or with an HTTP status other than 200;
-- socket errors are wrk's own "Socket errors" line).
local f = assert(io.open(assert(os.getenv("WRK_BODY"), "WRK_BODY is not set"), "rb"))
wrk.body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local threads = {}

function setup(thread)
	table.insert(threads, thread)
end

bad = 0

function response(status, headers, body)
	if status ~= 200 or not string.find(body, '"result"', 1, true) then
		bad = bad + 1
	end
end

function done(summary, latency, requests)
	local b = 0
	for _, t in ipairs(threads) do
		b = b + t:get("bad")
	end
	local secs = summary.duration / 1e6
	io.write(string.format("wrk_result requests=%d bad=%d seconds=%.3f rate=%.1f p50_us=%d p99_us=%d\n",
		summary.requests, b + summary.errors.status, secs, summary.requests / secs,
		latency:percentile(50), latency:percentile(99)))
end
