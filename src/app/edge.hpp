#pragma once
// Edge middleware: what the seeds call the API gateway, inside ticketd.
//
// Order (outermost first, see app.cpp): EdgeMiddleware (client address,
// security headers, CORS and preflight, gzip) → AuthMiddleware →
// RateLimitMiddleware → the route's handler.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "app/rate_limit.hpp"
#include "ticketd/auth/auth.hpp"
#include "ticketd/core/config.hpp"
#include "ticketd/core/http.hpp"
#include "ticketd/core/router.hpp"

namespace ticketd::app {

/// Requests per window for one rate-limit category (0 = unlimited).
struct CategoryLimits {
  std::int64_t per_user = 0;   // routes that need a token, keyed by user id
  std::int64_t per_ip = 0;     // anonymous routes (public, webhooks), keyed by client IP
  bool ip_caps_users = false;  // per_ip also caps authenticated requests from one IP (booking)
};

struct EdgeOptions {
  /// CIDRs (or single addresses) whose X-Forwarded-For / X-Forwarded-Proto are believed.
  std::vector<std::string> trusted_proxies;

  bool rate_limit_enabled = true;
  std::chrono::seconds rate_window{60};
  std::size_t rate_max_keys = 100000;
  /// By RouteMeta::rate_category; an unknown or empty category uses "default";
  /// "ops" is never limited.
  std::map<std::string, CategoryLimits, std::less<>> categories;

  /// Exact origins (`https://tickets.example.com`) or "*" (any origin; echoed).
  std::vector<std::string> cors_origins;
  std::vector<std::string> cors_methods;
  std::vector<std::string> cors_headers;
  std::vector<std::string> cors_expose_headers;
  bool cors_credentials = false;
  std::int64_t cors_max_age = 600;

  /// Strict-Transport-Security max-age when the request came over HTTPS (per
  /// a trusted proxy's X-Forwarded-Proto); 0 = never.
  std::int64_t hsts_max_age = 31536000;

  bool gzip = true;
  std::size_t gzip_min_bytes = 1024;
};

/// The seeds' defaults: auth 10/min per IP, read 300/min, queue-status
/// 60/min per user, booking 20/min per user and 50/min per IP, default and
/// queue 200/min per user and 100/min per IP; CORS allows no origin.
EdgeOptions DefaultEdgeOptions();
/// From the `edge` config section. Throws config::ConfigError for an invalid
/// trusted proxy CIDR or CORS origin.
EdgeOptions EdgeOptionsFrom(const config::Config& config);

/// Parsed trusted-proxy CIDRs. Throws std::invalid_argument for a bad entry.
class TrustedProxies {
 public:
  explicit TrustedProxies(const std::vector<std::string>& cidrs);
  [[nodiscard]] bool Contains(std::string_view ip) const;
  [[nodiscard]] bool empty() const noexcept { return nets_.empty(); }
  /// The client address: `peer` unless it is a trusted proxy; then the
  /// right-most X-Forwarded-For entry that is not a trusted proxy (the
  /// left-most when all are). Entries that are not IP addresses end the walk.
  [[nodiscard]] std::string ClientIp(std::string_view peer, std::string_view forwarded_for) const;

 private:
  struct Net {
    std::array<unsigned char, 16> bytes{};
    bool v4 = false;
    int prefix = 0;
  };
  std::vector<Net> nets_;
};

/// Outermost middleware: sets Request::client_ip (X-Forwarded-For only from
/// trusted proxies); answers CORS preflights (and plain OPTIONS) for every
/// existing path with 204; adds CORS headers for listed origins only;
/// adds X-Content-Type-Options, X-Frame-Options, Referrer-Policy,
/// Content-Security-Policy (unless the handler set one) and HSTS over HTTPS;
/// gzips JSON bodies of at least gzip_min_bytes when the client accepts gzip
/// and the response has no Content-Encoding yet.
http::Middleware EdgeMiddleware(const EdgeOptions& options, const http::Router& router);

/// Enforces each route's auth level: user/admin routes need
/// `Authorization: Bearer <access token>` (missing or invalid → 401
/// UNAUTHENTICATED, expired → 401 TOKEN_EXPIRED, both with WWW-Authenticate);
/// admin routes with a USER token → 403 FORBIDDEN. Tokens are read from the
/// header only (never the query string). Authenticated responses get
/// `Cache-Control: no-store`.
http::Middleware AuthMiddleware(const auth::TokenVerifier& verifier);

/// Token-bucket limits by the route's rate category, per user for
/// authenticated routes and per client IP otherwise (runs after
/// AuthMiddleware). Over the limit → 429 RATE_LIMITED with Retry-After;
/// limited responses carry `RateLimit-Policy` and `RateLimit`
/// (draft-ietf-httpapi-ratelimit-headers). Limits are per instance.
/// `limiter` may be shared (tests); null = a new one sized by the options.
http::Middleware RateLimitMiddleware(const EdgeOptions& options, std::shared_ptr<RateLimiter> limiter = nullptr);

/// True when an Accept-Encoding value admits gzip (gzip, x-gzip or *, q > 0).
bool AcceptsGzip(std::string_view accept_encoding);

}  // namespace ticketd::app
