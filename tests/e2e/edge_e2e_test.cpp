// The edge over real HTTP against the real binary: rate limits with 429 and
// headers and recovery, X-Forwarded-For from an untrusted peer ignored, CORS
// and preflight, security headers, gzip, the OpenAPI document and /docs.
#include <doctest/doctest.h>

#include <boost/json.hpp>

#include <zlib.h>

#include <chrono>
#include <thread>

#include "support/http_client.hpp"
#include "support/pg.hpp"
#include "support/process.hpp"

using namespace ticketd;
using namespace std::chrono_literals;
namespace http = boost::beast::http;

namespace {

constexpr const char* kOrigin = "https://tickets.example.com";

struct Edge {
  Edge() {
    auto env = test::E2eEnv(db.url());
    env["TICKETD_EDGE_RATE_LIMIT_AUTH_PER_IP"] = "3";
    // One token back every 5 s: the burst below must not see a refill even on
    // a slow machine.
    env["TICKETD_EDGE_RATE_LIMIT_WINDOW_SECONDS"] = "15";
    env["TICKETD_EDGE_CORS_ORIGINS"] = kOrigin;
    // Loopback is not a trusted proxy: X-Forwarded-For from it is a spoof.
    env["TICKETD_EDGE_TRUSTED_PROXIES"] = "10.255.0.0/16";
    process = std::make_unique<test::TicketdProcess>(std::vector<std::string>{}, env);
    port = process->WaitListening();
    REQUIRE(port != 0);
    REQUIRE(test::WaitReady(port));
  }
  test::HttpResponse Login(const std::map<std::string, std::string>& headers = {}) {
    return test::Request(port, http::verb::post, "/api/v1/auth/login", "{}", headers);
  }
  test::TempDatabase db;
  std::unique_ptr<test::TicketdProcess> process;
  std::uint16_t port = 0;
};

std::string Gunzip(const std::string& in) {
  z_stream zs{};
  REQUIRE(inflateInit2(&zs, 15 + 16) == Z_OK);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[16384];
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

}  // namespace

TEST_CASE("e2e edge: 429 RATE_LIMITED with Retry-After and RateLimit headers, spoofed XFF ignored, recovery") {
  Edge e;
  for (int i = 0; i < 3; ++i) {
    const auto r = e.Login({{"X-Forwarded-For", "198.51.100." + std::to_string(i)}});
    CHECK(r.result_int() != 429);
    CHECK(r["RateLimit-Policy"] == "\"auth-ip\";q=3;w=15");
  }
  auto r = e.Login();
  REQUIRE(r.result_int() == 429);
  CHECK(r[http::field::content_type] == "application/problem+json");
  const auto body = boost::json::parse(r.body()).as_object();
  CHECK(body.at("code").as_string() == "RATE_LIMITED");
  CHECK(body.at("status").as_int64() == 429);
  CHECK(body.contains("requestId"));
  const auto retry_after = std::string(r[http::field::retry_after]);
  REQUIRE_FALSE(retry_after.empty());
  CHECK(retry_after.find_first_not_of("0123456789") == std::string::npos);
  CHECK(std::stoi(retry_after) >= 1);
  CHECK(r["RateLimit-Policy"] == "\"auth-ip\";q=3;w=15");
  CHECK(r["RateLimit"].starts_with("\"auth-ip\";r=0;t="));
  CHECK(r["X-Content-Type-Options"] == "nosniff");

  // A new X-Forwarded-For from an untrusted peer does not buy a new bucket.
  CHECK(e.Login({{"X-Forwarded-For", "203.0.113.77"}}).result_int() == 429);
  // Operations endpoints are never limited.
  for (int i = 0; i < 20; ++i) CHECK(test::Request(e.port, http::verb::get, "/healthz").result_int() == 200);

  // After Retry-After the client is served again.
  std::this_thread::sleep_for(std::chrono::seconds(std::stoi(retry_after)) + 100ms);
  CHECK(e.Login().result_int() != 429);
}

TEST_CASE("e2e edge: CORS for a listed origin, none for others, preflight answered") {
  Edge e;
  auto r = test::Request(e.port, http::verb::get, "/healthz", "", {{"Origin", kOrigin}});
  CHECK(r[http::field::access_control_allow_origin] == kOrigin);
  r = test::Request(e.port, http::verb::get, "/healthz", "", {{"Origin", "https://evil.example"}});
  CHECK(r.result_int() == 200);
  CHECK(r.find(http::field::access_control_allow_origin) == r.end());

  r = test::Request(e.port, http::verb::options, "/api/v1/reservations/hold", "",
                    {{"Origin", kOrigin},
                     {"Access-Control-Request-Method", "POST"},
                     {"Access-Control-Request-Headers", "authorization,content-type,idempotency-key,x-queue-token"}});
  CHECK(r.result_int() == 204);
  CHECK(r[http::field::access_control_allow_origin] == kOrigin);
  CHECK(r[http::field::access_control_allow_methods].find("POST") != std::string_view::npos);
  for (const char* h : {"Authorization", "Content-Type", "Idempotency-Key", "X-Queue-Token"}) {
    CHECK(r[http::field::access_control_allow_headers].find(h) != std::string_view::npos);
  }
  CHECK(r[http::field::access_control_max_age] == "600");

  r = test::Request(e.port, http::verb::options, "/api/v1/reservations/hold", "",
                    {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "POST"}});
  CHECK(r.result_int() == 204);
  CHECK(r.find(http::field::access_control_allow_origin) == r.end());
  CHECK(r.find(http::field::access_control_allow_methods) == r.end());
  // Unknown paths are still 404.
  CHECK(test::Request(e.port, http::verb::options, "/api/v1/nothing-here").result_int() == 404);
}

TEST_CASE("e2e edge: security headers, gzip round trip, the OpenAPI document and /docs") {
  Edge e;
  for (const char* target : {"/healthz", "/api/v1/nothing-here", "/api/v1/openapi.json"}) {
    CAPTURE(target);
    const auto r = test::Request(e.port, http::verb::get, target);
    CHECK(r["X-Content-Type-Options"] == "nosniff");
    CHECK(r["X-Frame-Options"] == "DENY");
    CHECK(r["Referrer-Policy"] == "no-referrer");
    CHECK_FALSE(r["Content-Security-Policy"].empty());
  }
  // A user route answers 401 with the headers too.
  auto r = test::Request(e.port, http::verb::get, "/api/v1/users/me");
  CHECK(r.result_int() == 401);
  CHECK(r["X-Frame-Options"] == "DENY");

  const auto plain = test::Request(e.port, http::verb::get, "/api/v1/openapi.json");
  CHECK(plain.result_int() == 200);
  CHECK(plain.find(http::field::content_encoding) == plain.end());
  const auto doc = boost::json::parse(plain.body()).as_object();
  CHECK(doc.at("openapi").as_string().starts_with("3.1"));
  CHECK(doc.at("paths").as_object().contains("/api/v1/openapi.json"));

  const auto gz = test::Request(e.port, http::verb::get, "/api/v1/openapi.json", "", {{"Accept-Encoding", "gzip"}});
  CHECK(gz.result_int() == 200);
  CHECK(gz[http::field::content_encoding] == "gzip");
  CHECK(gz[http::field::vary].find("Accept-Encoding") != std::string_view::npos);
  CHECK(gz.body().size() < plain.body().size() / 3);
  CHECK(Gunzip(gz.body()) == plain.body());

  // /docs: Swagger UI from this origin only (the browser test in
  // tests/contract drives it); its files cacheable, gzipped, with ETags.
  r = test::Request(e.port, http::verb::get, "/docs");
  CHECK(r.result_int() == 200);
  CHECK(r[http::field::content_type].starts_with("text/html"));
  const std::string csp(r["Content-Security-Policy"]);
  CHECK(csp.find("script-src 'self';") != std::string::npos);
  CHECK(csp.find("connect-src 'self'") != std::string::npos);
  CHECK(csp.find("unsafe") == std::string::npos);
  const auto bundle_at = r.body().find("/docs/swagger-ui-bundle.js?v=");
  REQUIRE(bundle_at != std::string::npos);
  const std::string bundle_url = r.body().substr(bundle_at, r.body().find('"', bundle_at) - bundle_at);
  CHECK(r.body().find("/docs/swagger-initializer.js?v=") != std::string::npos);
  const auto js = test::Request(e.port, http::verb::get, bundle_url);
  CHECK(js.result_int() == 200);
  CHECK(js[http::field::content_type] == "text/javascript; charset=utf-8");
  CHECK(js[http::field::cache_control].find("immutable") != std::string_view::npos);
  CHECK(js.body().find("SwaggerUIBundle") != std::string::npos);
  const std::string etag(js[http::field::etag]);
  REQUIRE(etag.size() > 2);
  const auto js_gz = test::Request(e.port, http::verb::get, bundle_url, "", {{"Accept-Encoding", "gzip"}});
  CHECK(js_gz[http::field::content_encoding] == "gzip");
  CHECK(Gunzip(js_gz.body()) == js.body());
  const auto same = test::Request(e.port, http::verb::get, "/docs/swagger-ui-bundle.js", "", {{"If-None-Match", etag}});
  CHECK(same.result_int() == 304);
  CHECK(same.body().empty());
  const auto missing = test::Request(e.port, http::verb::get, "/docs/../api/v1/openapi.json");
  CHECK(missing.result_int() / 100 == 4);
  const auto unknown = test::Request(e.port, http::verb::get, "/docs/swagger-ui.js.map");
  CHECK(unknown.result_int() == 404);
  CHECK(unknown[http::field::content_type] == "application/problem+json");
}
