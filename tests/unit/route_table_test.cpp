// The route table is the single truth: every route is documented in
// docs/openapi.yaml (and nothing undocumented is served), and every
// user/admin route refuses a request without a valid token.
#include <doctest/doctest.h>

#include <boost/asio.hpp>

#include <fstream>
#include <set>

#include "app/edge.hpp"
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
