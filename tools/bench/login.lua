-- wrk script: logins spread over N seeded users (bench-<i>@example.com).
local users = tonumber(os.getenv("BENCH_USERS") or "100")
local counter = 0
request = function()
  counter = counter + 1
  local body = string.format(
    '{"email":"bench-%d@example.com","password":"bench-password-%d","captchaToken":"test-pass"}',
    counter % users, counter % users)
  return wrk.format("POST", "/api/v1/auth/login", {["Content-Type"] = "application/json"}, body)
end
done = function(summary, latency, requests)
  io.write(string.format("LOGIN_RESULT requests=%d errors_status=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f\n",
    summary.requests, summary.errors.status, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
