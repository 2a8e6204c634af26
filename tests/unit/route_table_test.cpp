// The route table is the single truth: every route is documented in
// docs/openapi.yaml (and nothing undocumented is served), and every
// user/admin route refuses a request without a valid token.
#include <doctest/doctest.h>

#include <boost/asio.hpp>

#include <fstream>
#include <set>

#include "app/docs.hpp"
#include "app/edge.hpp"
#include "auth/jwt.hpp"
#include "app/ops.hpp"
#include "auth/module.hpp"
#include "catalog/module.hpp"
#include "payment/module.hpp"
#include "reservation/module.hpp"
#include "queue/module.hpp"
#include "ticketd/core/router.hpp"

using namespace ticketd;

namespace {

auth::AuthOptions TestAuthOptions() {
  auth::AuthOptions o;
  o.jwt_secret = std::string(40, 'k');
  o.data_key = std::string(32, 'd');
  o.index_key = std::string(32, 'i');
  o.password_params_for_testing = true;
  return o;
}

db::PoolOptions Unreachable() {
  db::PoolOptions o;
  o.name = "auth";
  o.conninfo = "postgresql://nobody@127.0.0.1:1/none";
  o.size = 1;
  return o;
}

// Every route ticketd serves, built the way src/app wires them.
struct Routes {
  Routes() : auth_module(TestAuthOptions(), Unreachable(), nullptr), catalog_module({}, Unreachable(), nullptr),
               queue_module({}, Unreachable(), catalog_module.reader(), nullptr),
               reservation_module({}, Unreachable(), catalog_module.reader(), catalog_module.feed(), queue_module.tokens(),
                                  nullptr),
               payment_module({}, Unreachable(), reservation_module.reader(), queue_module.tokens(), catalog_module.reader(),
                              nullptr) {
    app::AddOpsRoutes(router, {}, registry);
    app::AddDocsRoutes(router);
    auth_module.AddRoutes(router);
    catalog_module.AddRoutes(router);
    queue_module.AddRoutes(router);
    reservation_module.AddRoutes(router);
    payment_module.AddRoutes(router);
  }
  metrics::Registry registry;
  http::Router router;
  auth::AuthModule auth_module;
  catalog::CatalogModule catalog_module;
  queue::QueueModule queue_module;
  reservation::ReservationModule reservation_module;
  payment::PaymentModule payment_module;
};

std::set<std::string> OpenApiOperations() {
  std::ifstream in(std::string(TICKETD_SOURCE_DIR) + "/docs/openapi.yaml");
  REQUIRE(in.good());
  std::set<std::string> ops;
  std::string line;
  std::string path;
  bool in_paths = false;
  while (std::getline(in, line)) {
    if (line == "paths:") {
      in_paths = true;
      continue;
    }
    if (!line.empty() && line[0] != ' ') in_paths = false;
    if (!in_paths) continue;
    if (line.size() > 3 && line.rfind("  /", 0) == 0 && line.back() == ':') {
      path = line.substr(2, line.size() - 3);
    } else {
      for (const char* m : {"get", "post", "put", "patch", "delete"}) {
        if (line == std::string("    ") + m + ":") {
          std::string upper(m);
          for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
          ops.insert(upper + " " + path);
        }
      }
    }
  }
  return ops;
}

class NeverValid final : public auth::TokenVerifier {
 public:
  std::expected<auth::VerifiedToken, auth::TokenError> Verify(std::string_view) const override {
    return std::unexpected(auth::TokenError::kInvalid);
  }
};

}  // namespace

TEST_CASE("route table: every route is in the OpenAPI document and vice versa") {
  Routes r;
  const auto documented = OpenApiOperations();
  std::set<std::string> served;
  for (const auto& route : r.router.routes()) {
    served.insert(std::string(http::beast_http::to_string(route.method)) + " " + route.path);
  }
  for (const auto& op : served) CHECK_MESSAGE(documented.contains(op), "not in docs/openapi.yaml: " << op);
  for (const auto& op : documented) CHECK_MESSAGE(served.contains(op), "documented but not served: " << op);
  CHECK(served.size() >= 13);
}

TEST_CASE("route table: user and admin routes refuse requests without a valid token") {
  Routes r;
  NeverValid verifier;
  const auto middleware = app::AuthMiddleware(verifier);
  int protected_routes = 0;
  for (const auto& route : r.router.routes()) {
    if (route.meta.auth != http::AuthLevel::kUser && route.meta.auth != http::AuthLevel::kAdmin) continue;
    ++protected_routes;
    for (const char* authorization : {"", "Bearer not-a-token", "Basic dXNlcjpwYXNz"}) {
      http::Request request;
      request.raw.method(route.method);
      request.raw.target(route.path);
      if (*authorization != '\0') request.raw.set(http::beast_http::field::authorization, authorization);
      request.meta = &route.meta;
      request.request_id = "t";
      bool reached = false;
      http::Next next = [&reached](http::Request&) -> boost::asio::awaitable<http::Response> {
        reached = true;
        co_return http::Empty(http::Status::ok);
      };
      boost::asio::io_context io;
      auto fut = boost::asio::co_spawn(io, middleware(request, next), boost::asio::use_future);
      io.run();
      const auto res = fut.get();
      CAPTURE(route.path);
      CAPTURE(authorization);
      CHECK(res.result_int() == 401);
      CHECK_FALSE(reached);
      CHECK(res[http::beast_http::field::www_authenticate].starts_with("Bearer"));
    }
  }
  CHECK(protected_routes >= 5);
}

namespace {

// An access token the auth module's own verifier accepts (same key, issuer, audience).
std::string SignedToken(const std::string& role) {
  const auto options = TestAuthOptions();
  const auth::JwtSigner signer({options.jwt_key_id, options.jwt_secret}, {}, options.issuer, options.audience);
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  auth::AccessClaims claims;
  claims.subject = "0190c5a4-1111-7000-8000-000000000001";
  claims.role = role;
  claims.jti = "route-table-" + role;
  claims.issued_at = now;
  claims.expires_at = now + 600;
  return signer.Sign(claims);
}

http::Response Through(const http::Middleware& middleware, const http::Route& route, const std::string& authorization,
                       bool& reached) {
  http::Request request;
  request.raw.method(route.method);
  request.raw.target(route.path);
  if (!authorization.empty()) request.raw.set(http::beast_http::field::authorization, authorization);
  request.meta = &route.meta;
  request.request_id = "t";
  http::Next next = [&reached](http::Request&) -> boost::asio::awaitable<http::Response> {
    reached = true;
    co_return http::Empty(http::Status::ok);
  };
  boost::asio::io_context io;
  auto fut = boost::asio::co_spawn(io, middleware(request, next), boost::asio::use_future);
  io.run();
  return fut.get();
}

}  // namespace

TEST_CASE("route table: every admin route refuses a USER token with 403 and admits an ADMIN token") {
  Routes r;
  const auto middleware = app::AuthMiddleware(r.auth_module.verifier());
  const auto user = "Bearer " + SignedToken("USER");
  const auto admin = "Bearer " + SignedToken("ADMIN");
  int admin_routes = 0;
  for (const auto& route : r.router.routes()) {
    CAPTURE(route.path);
    bool reached = false;
    if (route.meta.auth == http::AuthLevel::kAdmin) {
      ++admin_routes;
      auto res = Through(middleware, route, user, reached);
      CHECK(res.result_int() == 403);
      CHECK(res.body().find("\"code\":\"FORBIDDEN\"") != std::string::npos);
      CHECK_FALSE(reached);
      res = Through(middleware, route, admin, reached);
      CHECK(res.result_int() == 200);
      CHECK(reached);
      CHECK(res[http::beast_http::field::cache_control] == "no-store");
    } else if (route.meta.auth == http::AuthLevel::kUser) {
      // A valid USER token is admitted (so the 401 walk above is about the token, not the route).
      const auto res = Through(middleware, route, user, reached);
      CHECK(res.result_int() == 200);
      CHECK(reached);
    }
  }
  CHECK(admin_routes >= 10);
}

TEST_CASE("route table: every route declares a known rate-limit category that fits its auth level") {
  Routes r;
  const std::set<std::string> known{"auth", "read", "queue", "queue-status", "booking", "default", "ops"};
  const auto defaults = app::DefaultEdgeOptions();
  for (const auto& route : r.router.routes()) {
    CAPTURE(route.path);
    const auto& category = route.meta.rate_category;
    CHECK(known.contains(category));
    if (category != "ops") CHECK(defaults.categories.contains(category));
    // Only the operations endpoints are exempt from limits.
    const bool ops_path = route.path == "/healthz" || route.path == "/readyz" || route.path == "/metrics";
    CHECK((category == "ops") == ops_path);
    // Per-user categories need a user; the auth category is for anonymous routes.
    if (category == "queue-status" || category == "booking") CHECK(route.meta.auth == http::AuthLevel::kUser);
    if (category == "auth") CHECK(route.meta.auth == http::AuthLevel::kPublic);
  }
}

TEST_CASE("route table: GET /api/v1/openapi.json serves the document, listing exactly the served routes") {
  Routes r;
  const auto json = boost::json::parse(app::OpenApiJson()).as_object();
  CHECK(json.at("openapi").as_string().starts_with("3.1"));
  std::set<std::string> documented;
  for (const auto& [path, item] : json.at("paths").as_object()) {
    for (const auto& [method, op] : item.as_object()) {
      std::string upper(method);
      for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (upper == "GET" || upper == "POST" || upper == "PUT" || upper == "PATCH" || upper == "DELETE") {
        documented.insert(upper + " " + std::string(path));
      }
    }
  }
  std::set<std::string> served;
  for (const auto& route : r.router.routes()) {
    served.insert(std::string(http::beast_http::to_string(route.method)) + " " + route.path);
  }
  CHECK(documented == served);
  CHECK(served.contains("GET /api/v1/openapi.json"));
  CHECK(served.contains("GET /docs"));

  // The handlers: JSON, and Swagger UI's page under a CSP of this origin only.
  for (const auto& route : r.router.routes()) {
    if (route.path != "/api/v1/openapi.json" && route.path != "/docs") continue;
    http::Request request;
    request.raw.method(route.method);
    request.raw.target(route.path);
    boost::asio::io_context io;
    auto fut = boost::asio::co_spawn(io, route.handler(request), boost::asio::use_future);
    io.run();
    const auto res = fut.get();
    CHECK(res.result_int() == 200);
    if (route.path == "/docs") {
      CHECK(res[http::beast_http::field::content_type].starts_with("text/html"));
      CHECK(res.body().find("/docs/swagger-ui-bundle.js?v=") != std::string::npos);
      CHECK(res["Content-Security-Policy"].find("script-src 'self';") != std::string_view::npos);
    } else {
      CHECK(res[http::beast_http::field::content_type] == "application/json");
      CHECK(res.body() == app::OpenApiJson());
    }
  }
}
