// The HTTP request path without the network: Beast's parser with the
// server's limits → the router → the edge, auth and rate-limit middleware →
// the input check → a handler that reads what real handlers read. Invariants:
// no 5xx for any input, and a handler only ever sees valid text.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/http/parser.hpp>

#include "app/edge.hpp"
#include "auth/jwt.hpp"
#include "fuzz_util.hpp"
#include "ticketd/core/input.hpp"
#include "ticketd/core/query_params.hpp"
#include "ticketd/core/router.hpp"

using namespace ticketd;
namespace bh = http::beast_http;
using Awaitable = boost::asio::awaitable<http::Response>;

namespace {

class JwtVerifier final : public auth::TokenVerifier {
 public:
  JwtVerifier() : signer_({"k1", std::string(40, 'k')}, {}, "ticketd", "ticketd-api") {}
  std::expected<auth::VerifiedToken, auth::TokenError> Verify(std::string_view token) const override {
    const auto claims = signer_.Verify(token, 1700000000);
    if (!claims) return std::unexpected(auth::TokenError::kInvalid);
    return auth::VerifiedToken{claims->subject, claims->role, claims->jti, claims->expires_at};
  }

 private:
  auth::JwtSigner signer_;
};

// What a handler may rely on after the edge.
Awaitable Handler(http::Request& r) {
  const std::string_view target = r.raw.target();
  if (const auto q = target.find('?'); q != std::string_view::npos) {
    std::vector<FieldError> errors;
    for (const auto& [key, value] : http::ParseQuery(target.substr(q + 1), errors)) {
      if (http::TextProblem(key, false) || http::TextProblem(value, false)) fuzz::Fail("handler saw bad query text");
      const auto v = r.Query(key);
      if (!v || *v != value) fuzz::Fail("Query() disagrees with the edge's parse");
    }
    if (!errors.empty()) fuzz::Fail("handler saw a malformed query");
  }
  for (const auto& [name, value] : r.path_params) {
    if (http::TextProblem(value, false)) fuzz::Fail("handler saw a bad path parameter");
  }
  if (const auto ua = r.Header("User-Agent"); ua && (ua->size() > http::kMaxUserAgentBytes || !http::IsValidUtf8(*ua))) {
    fuzz::Fail("handler saw a bad User-Agent");
  }
  (void)http::QueryInt(r, "page", 1, 1, 1000000);  // may throw ApiError (400)
  boost::json::object body;
  if (!r.raw.body().empty()) body = r.JsonBody();  // may throw ApiError (400/415)
  co_return http::Json(http::Status::ok, body);
}

struct Harness {
  Harness() {
    const http::RouteMeta open{http::AuthLevel::kPublic, "read", std::nullopt};
    const http::RouteMeta auth{http::AuthLevel::kPublic, "auth", 16 * 1024};
    const http::RouteMeta user{http::AuthLevel::kUser, "default", std::nullopt};
    const http::RouteMeta booking{http::AuthLevel::kUser, "booking", std::nullopt};
    const http::RouteMeta admin{http::AuthLevel::kAdmin, "default", std::nullopt};
    const http::RouteMeta ops{http::AuthLevel::kPublic, "ops", std::nullopt};
    const http::RouteMeta hook{http::AuthLevel::kSignature, "default", std::nullopt};
    // The shapes of the real table (src/app, modules/*/handlers).
    router.Add(http::Verb::get, "/healthz", ops, Handler);
    router.Add(http::Verb::get, "/docs", open, Handler);
    router.Add(http::Verb::get, "/api/v1/events", open, Handler);
    router.Add(http::Verb::get, "/api/v1/events/{eventId}", open, Handler);
    router.Add(http::Verb::get, "/api/v1/events/{eventId}/seats", open, Handler);
    router.Add(http::Verb::post, "/api/v1/admin/venues", admin, Handler);
    router.Add(http::Verb::patch, "/api/v1/admin/venues/{venueId}", admin, Handler);
    router.Add(http::Verb::put, "/api/v1/admin/venues/{venueId}/halls/{hallId}", admin, Handler);
    router.Add(http::Verb::post, "/api/v1/auth/login", auth, Handler);
    router.Add(http::Verb::post, "/api/v1/auth/register", auth, Handler);
    router.Add(http::Verb::get, "/api/v1/users/me", user, Handler);
    router.Add(http::Verb::delete_, "/api/v1/users/me", user, Handler);
    router.Add(http::Verb::post, "/api/v1/queue/{eventId}/enter", user, Handler);
    router.Add(http::Verb::post, "/api/v1/reservations/hold", booking, Handler);
    router.Add(http::Verb::post, "/api/v1/payments/webhooks/portone", hook, Handler);
    auto options = app::DefaultEdgeOptions();
    options.trusted_proxies = {"127.0.0.1", "10.0.0.0/8"};
    options.cors_origins = {"https://tickets.example.com"};
    options.gzip_min_bytes = 16;
    const std::vector<http::Middleware> middleware{app::EdgeMiddleware(options, router), app::AuthMiddleware(verifier),
                                                   app::RateLimitMiddleware(options)};
    http::Next next = [this](http::Request& r) { return Dispatch(r); };
    for (auto it = middleware.rbegin(); it != middleware.rend(); ++it) {
      next = [mw = *it, inner = std::move(next)](http::Request& r) { return mw(r, inner); };
    }
    chain = std::move(next);
  }

  // As http::Server::Dispatch.
  Awaitable Dispatch(http::Request& request) {
    try {
      if (request.handler == nullptr) throw ApiError(problems::NotFound("no route"));
      http::CheckInput(request);
      co_return co_await (*request.handler)(request);
    } catch (const ApiError& e) {
      co_return http::ProblemResponse(e.problem(), request.request_id);
    }
  }

  JwtVerifier verifier;
  http::Router router;
  http::Next chain;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Harness h;
  bh::request_parser<bh::string_body> parser;
  parser.header_limit(8192);
  parser.body_limit(65536);
  parser.eager(true);
  boost::system::error_code ec;
  const auto used = parser.put(boost::asio::buffer(data, size), ec);
  (void)used;
  if (!ec && !parser.is_done()) parser.put_eof(ec);
  if (ec || !parser.is_done()) return 0;

  http::Request request;
  request.raw = parser.release();
  request.request_id = "fuzz";
  request.peer_ip = "127.0.0.1";
  request.client_ip = "127.0.0.1";
  const std::string_view target = request.raw.target();
  auto match = h.router.Match(request.raw.method(), target.substr(0, target.find('?')));
  if (match.kind == http::RouteMatch::Kind::kFound) {
    request.route = match.route->path;
    request.meta = &match.route->meta;
    request.handler = &match.route->handler;
    request.path_params = std::move(match.params);
  }
  boost::asio::io_context io;
  auto fut = boost::asio::co_spawn(io, h.chain(request), boost::asio::use_future);
  io.run();
  const auto response = fut.get();  // an exception escaping the chain is a bug: libFuzzer reports it
  if (response.result_int() >= 500) fuzz::Fail("5xx answer");
  return 0;
}
