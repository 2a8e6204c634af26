#pragma once
// HTTP request/response types shared by the server, the router, middleware and
// every module's handlers. Handlers are coroutines: they take a Request and
// return a Response, throwing ApiError for the documented errors.

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ticketd/core/error.hpp"

namespace ticketd::http {

namespace beast_http = boost::beast::http;
using Verb = beast_http::verb;
using Status = beast_http::status;
using RawRequest = beast_http::request<beast_http::string_body>;
using Response = beast_http::response<beast_http::string_body>;

/// Who may call a route. kSignature routes authenticate by a body signature
/// (webhooks) instead of a bearer token.
enum class AuthLevel { kPublic, kUser, kAdmin, kSignature };
std::string_view ToString(AuthLevel level);

/// Per-route metadata read by the server (body limit) and by middleware
/// (authentication, rate limiting).
struct RouteMeta {
  AuthLevel auth = AuthLevel::kPublic;
  /// Rate-limit category (`auth`, `read`, `queue`, `queue-status`, `booking`,
  /// `default`, `ops`); interpreted by the edge middleware.
  std::string rate_category = "default";
  /// Largest accepted request body in bytes; larger → 413 before reading it.
  /// Unset: the server's default (`server.body_limit_bytes`).
  std::optional<std::size_t> body_limit;
  /// The body is JSON whatever its Content-Type says (the sandbox gateway:
  /// PortOne's API, and so its server SDK, sends JSON as text/plain).
  bool json_any_content_type = false;
};

/// The authenticated caller, filled by the auth middleware.
struct Principal {
  std::string user_id;
  std::string role;  // "USER" or "ADMIN"
  std::string token_id;
  std::chrono::system_clock::time_point token_expires_at;
};

struct Request {
  RawRequest raw;
  /// Route template that matched, e.g. `/api/v1/events/{eventId}`; `-` when none.
  std::string route = "-";
  const RouteMeta* meta = nullptr;
  std::vector<std::pair<std::string, std::string>> path_params;
  std::string request_id;
  std::string peer_ip;    // the TCP peer
  std::string client_ip;  // peer, or X-Forwarded-For when the peer is a trusted proxy
  std::optional<Principal> principal;
  std::chrono::steady_clock::time_point received_at{};
  /// The matched route's handler (set by the server; null when no route matched).
  const std::function<boost::asio::awaitable<beast_http::response<beast_http::string_body>>(Request&)>* handler = nullptr;

  /// Path parameter by name; throws std::out_of_range for an unknown name.
  [[nodiscard]] const std::string& Param(std::string_view name) const;
  /// Decoded query parameter, if present (first occurrence).
  [[nodiscard]] std::optional<std::string> Query(std::string_view name) const;
  /// Header value, if present.
  [[nodiscard]] std::optional<std::string_view> Header(std::string_view name) const;
  /// Parses the body as a JSON object; throws ApiError MALFORMED_JSON (400)
  /// for invalid JSON or a non-object and VALIDATION_FAILED (415) for a
  /// non-JSON content type.
  [[nodiscard]] boost::json::object JsonBody() const;
};

using Handler = std::function<boost::asio::awaitable<Response>(Request&)>;
using Next = std::function<boost::asio::awaitable<Response>(Request&)>;
/// Middleware wraps the rest of the chain; it may answer itself or call next.
using Middleware = std::function<boost::asio::awaitable<Response>(Request&, const Next&)>;

/// `application/json` response with the given body.
Response Json(Status status, const boost::json::value& body);
/// Empty response (e.g. 204).
Response Empty(Status status);
/// `application/problem+json` response; sets Retry-After when the problem has one.
Response ProblemResponse(const Problem& problem, std::string_view request_id);
/// The security headers every response carries (nosniff, no framing, no
/// referrer, a CSP that loads nothing unless the response set its own). The
/// edge middleware adds them to routed responses; the server to the errors it
/// writes before a request reaches the router (400, 413, 431).
void SetSecurityHeaders(Response& res);

}  // namespace ticketd::http
