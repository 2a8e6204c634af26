// The edge middleware in-process: token buckets, client address from trusted
// proxies, rate-limit responses and headers, CORS and preflight, security
// headers, gzip.
#include <doctest/doctest.h>

#include <boost/asio.hpp>

#include <zlib.h>

#include "app/edge.hpp"
#include "ticketd/core/gzip.hpp"
#include "app/rate_limit.hpp"
#include "ticketd/core/router.hpp"

using namespace ticketd;
using namespace std::chrono_literals;
namespace bh = http::beast_http;

namespace {

std::string Gunzip(const std::string& in) {
  z_stream zs{};
  REQUIRE(inflateInit2(&zs, 15 + 16) == Z_OK);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[4096];
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof buf - zs.avail_out);
  }
  inflateEnd(&zs);
  REQUIRE(rc == Z_STREAM_END);
  return out;
}

// A router with one route of each kind and the edge chain around it, as app.cpp wires it.
struct Chain {
  explicit Chain(app::EdgeOptions o) : options(std::move(o)) {
    auto ok = [this](http::Request&) -> boost::asio::awaitable<http::Response> {
      ++handled;
      co_return http::Json(http::Status::ok, boost::json::object{{"payload", std::string(body_size, 'x')}});
    };
    router.Add(http::Verb::get, "/healthz", {http::AuthLevel::kPublic, "ops", std::size_t{0}}, ok);
    router.Add(http::Verb::get, "/api/v1/events", {http::AuthLevel::kPublic, "read", std::size_t{0}}, ok);
    router.Add(http::Verb::post, "/api/v1/auth/login", {http::AuthLevel::kPublic, "auth", std::nullopt}, ok);
    router.Add(http::Verb::post, "/api/v1/reservations/hold", {http::AuthLevel::kUser, "booking", std::nullopt}, ok);
    router.Add(http::Verb::get, "/api/v1/reservations/hold/{id}", {http::AuthLevel::kUser, "booking", std::nullopt}, ok);
    router.Add(http::Verb::post, "/api/v1/payments/webhooks/portone", {http::AuthLevel::kSignature, "default", std::nullopt}, ok);
    router.Add(http::Verb::get, "/gz", {http::AuthLevel::kPublic, "ops", std::size_t{0}},
               [](http::Request&) -> boost::asio::awaitable<http::Response> {
                 auto res = http::Json(http::Status::ok, boost::json::object{{"payload", std::string(4000, 'g')}});
                 res.body() = ticketd::Gzip(res.body());
                 res.set(bh::field::content_encoding, "gzip");
                 co_return res;
               });
    edge = app::EdgeMiddleware(options, router);
    limits = app::RateLimitMiddleware(options);
  }

  // Runs edge → (fake auth: principal from X-Test-User) → rate limit → handler.
  http::Response Call(http::Verb method, const std::string& target, std::map<std::string, std::string> headers = {},
                      std::string peer = "127.0.0.1") {
    http::Request request;
    request.raw.method(method);
    request.raw.target(target);
    for (const auto& [k, v] : headers) request.raw.set(k, v);
    request.peer_ip = peer;
    request.client_ip = peer;
    request.request_id = "t";
    const auto match = router.Match(method, target.substr(0, target.find('?')));
    if (match.kind == http::RouteMatch::Kind::kFound) {
      request.route = match.route->path;
      request.meta = &match.route->meta;
      request.handler = &match.route->handler;
    }
    http::Next dispatch = [](http::Request& r) -> boost::asio::awaitable<http::Response> {
      if (r.handler == nullptr) co_return http::Empty(http::Status::not_found);
      auto task = (*r.handler)(r);
      co_return co_await std::move(task);
    };
    http::Next rate = [this, &dispatch](http::Request& r) { return limits(r, dispatch); };
    http::Next auth = [&rate](http::Request& r) -> boost::asio::awaitable<http::Response> {
      if (auto user = r.Header("X-Test-User")) r.principal = http::Principal{std::string(*user), "USER", "j", {}};
      auto task = rate(r);
      co_return co_await std::move(task);
    };
    boost::asio::io_context io;
    auto fut = boost::asio::co_spawn(io, edge(request, auth), boost::asio::use_future);
    io.run();
    last_client_ip = request.client_ip;
    return fut.get();
  }

  app::EdgeOptions options;
  http::Router router;
  http::Middleware edge;
  http::Middleware limits;
  int handled = 0;
  std::size_t body_size = 10;
  std::string last_client_ip;
};

app::EdgeOptions Tight() {
  auto o = app::DefaultEdgeOptions();
  o.categories["auth"] = {3, 3, false};
  o.categories["read"] = {5, 5, false};
  o.categories["booking"] = {2, 3, true};
  o.categories["default"] = {4, 2, false};
  o.cors_origins = {"https://tickets.example.com"};
  o.trusted_proxies = {"10.0.0.0/8"};
  return o;
}

}  // namespace

TEST_CASE("rate limiter: a bucket allows its limit, refuses with Retry-After and refills over the window") {
  app::RateLimiter limiter(1000);
  const app::RatePolicy policy{"auth-ip", 3, 60s};
  const auto t0 = app::RateLimiter::Clock::now();
  for (int i = 0; i < 3; ++i) {
    const auto d = limiter.Take(policy, "1.2.3.4", t0);
    CHECK(d.allowed);
    CHECK(d.remaining == 2 - i);
  }
  auto d = limiter.Take(policy, "1.2.3.4", t0);
  CHECK_FALSE(d.allowed);
  CHECK(d.retry_after == 20);  // one token per 20 s
  CHECK(d.reset_seconds == 60);
  CHECK(limiter.Take(policy, "5.6.7.8", t0).allowed);  // other keys have their own bucket
  CHECK_FALSE(limiter.Take(policy, "1.2.3.4", t0 + 19s).allowed);
  CHECK(limiter.Take(policy, "1.2.3.4", t0 + 20s).allowed);
  CHECK_FALSE(limiter.Take(policy, "1.2.3.4", t0 + 20s).allowed);
  // A full window later the bucket is full (and never more than full).
  for (int i = 0; i < 3; ++i) CHECK(limiter.Take(policy, "1.2.3.4", t0 + 600s).allowed);
  CHECK_FALSE(limiter.Take(policy, "1.2.3.4", t0 + 600s).allowed);
  // Unlimited policies always allow.
  CHECK(limiter.Take({"x", 0, 60s}, "k", t0).allowed);
}

TEST_CASE("rate limiter: memory is bounded by LRU eviction") {
  app::RateLimiter limiter(64);
  const app::RatePolicy policy{"read-ip", 1, 60s};
  const auto t0 = app::RateLimiter::Clock::now();
  for (int i = 0; i < 10000; ++i) limiter.Take(policy, "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256), t0);
  CHECK(limiter.size() <= 64);
  CHECK(limiter.size() >= 16);
}

TEST_CASE("trusted proxies: X-Forwarded-For is believed only from a trusted peer") {
  const app::TrustedProxies proxies({"10.0.0.0/8", "192.168.1.1", "fd00::/8"});
  CHECK(proxies.Contains("10.1.2.3"));
  CHECK(proxies.Contains("::ffff:10.1.2.3"));
  CHECK(proxies.Contains("192.168.1.1"));
  CHECK_FALSE(proxies.Contains("192.168.1.2"));
  CHECK(proxies.Contains("fd12::1"));
  CHECK_FALSE(proxies.Contains("fe80::1"));
  CHECK_FALSE(proxies.Contains("garbage"));
  // Untrusted peer: the header is a spoof and ignored.
  CHECK(proxies.ClientIp("203.0.113.9", "1.1.1.1") == "203.0.113.9");
  // Trusted peer: the right-most address that is not a trusted proxy.
  CHECK(proxies.ClientIp("10.0.0.5", "1.1.1.1") == "1.1.1.1");
  CHECK(proxies.ClientIp("10.0.0.5", "6.6.6.6, 1.1.1.1, 10.0.0.7") == "1.1.1.1");
  CHECK(proxies.ClientIp("10.0.0.5", "10.0.0.9, 10.0.0.7") == "10.0.0.9");
  CHECK(proxies.ClientIp("10.0.0.5", "[2001:db8::1]:443") == "2001:db8::1");
  CHECK(proxies.ClientIp("10.0.0.5", "1.1.1.1:5555") == "1.1.1.1");
  CHECK(proxies.ClientIp("10.0.0.5", "not-an-ip, 10.0.0.8") == "10.0.0.8");
  CHECK(app::TrustedProxies({}).ClientIp("10.0.0.5", "1.1.1.1") == "10.0.0.5");
  CHECK_THROWS_AS(app::TrustedProxies({"10.0.0.0/33"}), std::invalid_argument);
  CHECK_THROWS_AS(app::TrustedProxies({"example.com"}), std::invalid_argument);
  CHECK_THROWS_AS(app::TrustedProxies({"10.0.0.0/"}), std::invalid_argument);
}

TEST_CASE("edge: over the limit answers 429 RATE_LIMITED with Retry-After and RateLimit headers") {
  Chain chain(Tight());
  for (int i = 0; i < 3; ++i) {
    const auto res = chain.Call(http::Verb::post, "/api/v1/auth/login");
    CHECK(res.result_int() == 200);
    CHECK(res["RateLimit-Policy"] == "\"auth-ip\";q=3;w=60");
    CHECK(res["RateLimit"] == "\"auth-ip\";r=" + std::to_string(2 - i) + ";t=" + std::to_string((i + 1) * 20));
  }
  const auto res = chain.Call(http::Verb::post, "/api/v1/auth/login");
  CHECK(res.result_int() == 429);
  CHECK(res[bh::field::content_type] == "application/problem+json");
  CHECK(res.body().find("\"code\":\"RATE_LIMITED\"") != std::string::npos);
  CHECK(res[bh::field::retry_after] == "20");
  CHECK(res["RateLimit"] == "\"auth-ip\";r=0;t=60");
  CHECK(res["X-Content-Type-Options"] == "nosniff");
  CHECK(chain.handled == 3);
  // Another category has its own bucket; ops routes are never limited.
  CHECK(chain.Call(http::Verb::get, "/api/v1/events").result_int() == 200);
  for (int i = 0; i < 50; ++i) CHECK(chain.Call(http::Verb::get, "/healthz").result_int() == 200);
  CHECK(chain.Call(http::Verb::get, "/healthz")["RateLimit"].empty());
}

TEST_CASE("edge: anonymous routes are limited per client IP, X-Forwarded-For only from trusted proxies") {
  Chain chain(Tight());
  // Spoofing from an untrusted peer does not buy new buckets.
  for (int i = 0; i < 3; ++i) {
    CHECK(chain.Call(http::Verb::post, "/api/v1/auth/login", {{"X-Forwarded-For", "1.0.0." + std::to_string(i)}})
              .result_int() == 200);
    CHECK(chain.last_client_ip == "127.0.0.1");
  }
  CHECK(chain.Call(http::Verb::post, "/api/v1/auth/login", {{"X-Forwarded-For", "9.9.9.9"}}).result_int() == 429);
  // Through a trusted proxy each client has its own bucket.
  for (int i = 0; i < 3; ++i) {
    CHECK(chain.Call(http::Verb::post, "/api/v1/auth/login", {{"X-Forwarded-For", "2.2.2.2"}}, "10.0.0.1").result_int() == 200);
    CHECK(chain.last_client_ip == "2.2.2.2");
  }
  CHECK(chain.Call(http::Verb::post, "/api/v1/auth/login", {{"X-Forwarded-For", "2.2.2.2"}}, "10.0.0.1").result_int() == 429);
  CHECK(chain.Call(http::Verb::post, "/api/v1/auth/login", {{"X-Forwarded-For", "3.3.3.3"}}, "10.0.0.1").result_int() == 200);
  // The webhook (signature auth) is limited per IP only.
  CHECK(chain.Call(http::Verb::post, "/api/v1/payments/webhooks/portone")["RateLimit-Policy"] == "\"default-ip\";q=2;w=60");
  CHECK(chain.Call(http::Verb::post, "/api/v1/payments/webhooks/portone").result_int() == 200);
  CHECK(chain.Call(http::Verb::post, "/api/v1/payments/webhooks/portone").result_int() == 429);
}

TEST_CASE("edge: authenticated routes are limited per user, booking also per IP") {
  Chain chain(Tight());
  // booking: 2 per user, 3 per IP.
  auto res = chain.Call(http::Verb::post, "/api/v1/reservations/hold", {{"X-Test-User", "alice"}});
  CHECK(res.result_int() == 200);
  CHECK(res["RateLimit-Policy"] == "\"booking-user\";q=2;w=60, \"booking-ip\";q=3;w=60");
  CHECK(chain.Call(http::Verb::get, "/api/v1/reservations/hold/1", {{"X-Test-User", "alice"}}).result_int() == 200);
  res = chain.Call(http::Verb::post, "/api/v1/reservations/hold", {{"X-Test-User", "alice"}});
  CHECK(res.result_int() == 429);
  CHECK(res["RateLimit-Policy"] == "\"booking-user\";q=2;w=60");
  CHECK(chain.Call(http::Verb::post, "/api/v1/reservations/hold", {{"X-Test-User", "bob"}}).result_int() == 200);
  // The IP's booking bucket (3) is now empty: a third user from the same IP is refused.
  res = chain.Call(http::Verb::post, "/api/v1/reservations/hold", {{"X-Test-User", "carol"}});
  CHECK(res.result_int() == 429);
  CHECK(res.body().find("booking-ip") != std::string::npos);
  // From another IP carol is fine.
  CHECK(chain.Call(http::Verb::post, "/api/v1/reservations/hold", {{"X-Test-User", "carol"}}, "198.51.100.7").result_int() == 200);
}

TEST_CASE("edge: rate limits can be switched off") {
  auto o = Tight();
  o.rate_limit_enabled = false;
  Chain chain(o);
  for (int i = 0; i < 20; ++i) CHECK(chain.Call(http::Verb::post, "/api/v1/auth/login").result_int() == 200);
  CHECK(chain.Call(http::Verb::post, "/api/v1/auth/login")["RateLimit"].empty());
}

TEST_CASE("edge: CORS allows listed origins only and answers preflights for existing paths") {
  Chain chain(Tight());
  auto res = chain.Call(http::Verb::get, "/api/v1/events", {{"Origin", "https://tickets.example.com"}});
  CHECK(res[bh::field::access_control_allow_origin] == "https://tickets.example.com");
  CHECK(res[bh::field::access_control_expose_headers].find("RateLimit") != std::string_view::npos);
  CHECK(res[bh::field::vary].find("Origin") != std::string_view::npos);
  res = chain.Call(http::Verb::get, "/api/v1/events", {{"Origin", "https://evil.example"}});
  CHECK(res.result_int() == 200);
  CHECK(res.find(bh::field::access_control_allow_origin) == res.end());
  CHECK(res.find(bh::field::access_control_allow_credentials) == res.end());

  const int before = chain.handled;
  res = chain.Call(http::Verb::options, "/api/v1/reservations/hold",
                   {{"Origin", "https://tickets.example.com"},
                    {"Access-Control-Request-Method", "POST"},
                    {"Access-Control-Request-Headers", "authorization, content-type, idempotency-key"}});
  CHECK(res.result_int() == 204);
  CHECK(res[bh::field::access_control_allow_origin] == "https://tickets.example.com");
  CHECK(res[bh::field::access_control_allow_methods] == "POST");
  const auto allow_headers = std::string(res[bh::field::access_control_allow_headers]);
  for (const char* h : {"Authorization", "Content-Type", "Idempotency-Key", "X-Queue-Token"}) {
    CHECK(allow_headers.find(h) != std::string::npos);
  }
  CHECK(res[bh::field::access_control_max_age] == "600");
  CHECK(res["X-Frame-Options"] == "DENY");
  CHECK(chain.handled == before);  // answered by the middleware

  // Preflight from an unlisted origin: 204 without any allow header.
  res = chain.Call(http::Verb::options, "/api/v1/reservations/hold",
                   {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "POST"}});
  CHECK(res.result_int() == 204);
  CHECK(res.find(bh::field::access_control_allow_origin) == res.end());
  CHECK(res.find(bh::field::access_control_allow_methods) == res.end());
  // A method the path does not have is not allowed.
  res = chain.Call(http::Verb::options, "/api/v1/events",
                   {{"Origin", "https://tickets.example.com"}, {"Access-Control-Request-Method", "DELETE"}});
  CHECK(res.find(bh::field::access_control_allow_methods) == res.end());
  // Plain OPTIONS lists the methods; unknown paths are not answered by the edge.
  res = chain.Call(http::Verb::options, "/api/v1/reservations/hold/abc");
  CHECK(res.result_int() == 204);
  CHECK(res[bh::field::allow] == "GET, HEAD, OPTIONS");
  CHECK(chain.Call(http::Verb::options, "/nope").result_int() == 404);
}

TEST_CASE("edge: security headers on every response, HSTS over HTTPS from a trusted proxy") {
  Chain chain(Tight());
  for (const auto& target : {"/healthz", "/api/v1/events", "/nope"}) {
    const auto res = chain.Call(http::Verb::get, target);
    CAPTURE(target);
    CHECK(res["X-Content-Type-Options"] == "nosniff");
    CHECK(res["X-Frame-Options"] == "DENY");
    CHECK(res["Referrer-Policy"] == "no-referrer");
    CHECK(res["Content-Security-Policy"].find("frame-ancestors 'none'") != std::string_view::npos);
    CHECK(res.find(bh::field::strict_transport_security) == res.end());
  }
  auto res = chain.Call(http::Verb::get, "/healthz", {{"X-Forwarded-Proto", "https"}}, "10.0.0.1");
  CHECK(res[bh::field::strict_transport_security] == "max-age=31536000; includeSubDomains");
  res = chain.Call(http::Verb::get, "/healthz", {{"X-Forwarded-Proto", "https"}}, "203.0.113.1");
  CHECK(res.find(bh::field::strict_transport_security) == res.end());
}

TEST_CASE("edge: JSON above 1 KiB is gzipped for clients that accept it, never twice") {
  CHECK(app::AcceptsGzip("gzip"));
  CHECK(app::AcceptsGzip("deflate, gzip;q=0.5, br"));
  CHECK(app::AcceptsGzip("*"));
  CHECK(app::AcceptsGzip("GZIP"));
  CHECK_FALSE(app::AcceptsGzip("gzip;q=0"));
  CHECK_FALSE(app::AcceptsGzip("gzip;q=0.000, *"));
  CHECK_FALSE(app::AcceptsGzip("identity"));
  CHECK_FALSE(app::AcceptsGzip("*;q=0"));

  Chain chain(Tight());
  chain.body_size = 2000;
  auto res = chain.Call(http::Verb::get, "/healthz", {{"Accept-Encoding", "gzip, br"}});
  CHECK(res[bh::field::content_encoding] == "gzip");
  CHECK(res[bh::field::vary].find("Accept-Encoding") != std::string_view::npos);
  CHECK(res.body().size() < 1000);
  CHECK(res[bh::field::content_length] == std::to_string(res.body().size()));
  const auto plain = Gunzip(res.body());
  CHECK(boost::json::parse(plain).at("payload").as_string().size() == 2000);
  // Without Accept-Encoding: identity.
  res = chain.Call(http::Verb::get, "/healthz");
  CHECK(res.find(bh::field::content_encoding) == res.end());
  CHECK(res.body().size() > 2000);
  // Small bodies stay as they are.
  chain.body_size = 10;
  res = chain.Call(http::Verb::get, "/healthz", {{"Accept-Encoding", "gzip"}});
  CHECK(res.find(bh::field::content_encoding) == res.end());
  // Already encoded: not compressed again.
  res = chain.Call(http::Verb::get, "/gz", {{"Accept-Encoding", "gzip"}});
  CHECK(res[bh::field::content_encoding] == "gzip");
  CHECK(boost::json::parse(Gunzip(res.body())).at("payload").as_string().size() == 4000);
}
