#include "app/edge.hpp"

#include <boost/asio/ip/address.hpp>

#include "ticketd/core/gzip.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include <fmt/format.h>

namespace ticketd::app {

namespace bh = http::beast_http;

namespace {

// ---- helpers ----

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// Calls f(item) for each comma-separated, trimmed, non-empty item.
template <typename F>
void ForEachItem(std::string_view list, F&& f) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    const auto item = Trim(list.substr(0, comma));
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) {
    if (!out.empty()) out += ", ";
    out += i;
  }
  return out;
}

void AppendVary(http::Response& res, std::string_view token) {
  const auto existing = res[bh::field::vary];
  if (existing.empty()) {
    res.set(bh::field::vary, token);
    return;
  }
  bool present = false;
  ForEachItem(existing, [&](std::string_view item) { present = present || IEquals(item, token) || item == "*"; });
  if (!present) res.set(bh::field::vary, std::string(existing) + ", " + std::string(token));
}

// An IP address from an X-Forwarded-For element: `1.2.3.4`, `1.2.3.4:80`,
// `::1`, `[::1]:80`. IPv4-mapped IPv6 becomes IPv4.
std::optional<boost::asio::ip::address> ParseIp(std::string_view text) {
  text = Trim(text);
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    text = text.substr(1, close - 1);
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    text = text.substr(0, text.find(':'));
  }
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return boost::asio::ip::address(boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6()));
  }
  return address;
}

// ---- auth ----

http::Response Challenge(const Problem& problem, const http::Request& request, std::string_view error) {
  auto res = http::ProblemResponse(problem, request.request_id);
  std::string value = "Bearer realm=\"ticketd\"";
  if (!error.empty()) value += ", error=\"" + std::string(error) + "\"";
  res.set(bh::field::www_authenticate, value);
  return res;
}

std::optional<std::string_view> BearerToken(const http::Request& request) {
  const auto header = request.Header("Authorization");
  if (!header) return std::nullopt;
  std::string_view v = *header;
  constexpr std::string_view kScheme = "bearer ";
  if (v.size() <= kScheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(v[i])) != kScheme[i]) return std::nullopt;
  }
  v.remove_prefix(kScheme.size());
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  if (v.empty()) return std::nullopt;
  return v;
}

// ---- edge ----

struct EdgeState {
  EdgeOptions options;
  TrustedProxies proxies;
  const http::Router& router;
  bool any_origin = false;
  std::string allow_headers;
  std::string expose_headers;
  std::string max_age;
  std::string hsts;

  EdgeState(const EdgeOptions& o, const http::Router& r)
      : options(o), proxies(o.trusted_proxies), router(r),
        any_origin(std::find(o.cors_origins.begin(), o.cors_origins.end(), "*") != o.cors_origins.end()),
        allow_headers(Join(o.cors_headers)), expose_headers(Join(o.cors_expose_headers)),
        max_age(std::to_string(o.cors_max_age)),
        hsts(o.hsts_max_age > 0 ? "max-age=" + std::to_string(o.hsts_max_age) + "; includeSubDomains" : "") {}

  [[nodiscard]] bool OriginAllowed(std::string_view origin) const {
    if (origin.empty() || origin == "null") return false;
    if (any_origin) return true;
    return std::find(options.cors_origins.begin(), options.cors_origins.end(), origin) != options.cors_origins.end();
  }

  void CorsHeaders(http::Response& res, std::string_view origin) const {
    res.set(bh::field::access_control_allow_origin, origin);
    if (options.cors_credentials) res.set(bh::field::access_control_allow_credentials, "true");
  }

  [[nodiscard]] bool Https(const http::Request& request) const {
    if (!proxies.Contains(request.peer_ip)) return false;
    const auto proto = request.Header("X-Forwarded-Proto");
    if (!proto) return false;
    std::string_view last;
    ForEachItem(*proto, [&](std::string_view item) { last = item; });
    return IEquals(last, "https");
  }

  // A preflight (or plain OPTIONS) for a path that exists; nullopt otherwise.
  [[nodiscard]] std::optional<http::Response> Options(const http::Request& request) const {
    const auto target = std::string_view(request.raw.target());
    const auto match = router.Match(http::Verb::options, target.substr(0, target.find('?')));
    if (match.kind != http::RouteMatch::Kind::kMethodNotAllowed) return std::nullopt;
    http::Response res = http::Empty(http::Status::no_content);
    std::vector<std::string> allowed;
    for (auto v : match.allowed) allowed.emplace_back(bh::to_string(v));
    allowed.emplace_back("OPTIONS");
    res.set(bh::field::allow, Join(allowed));
    const auto origin = request.Header("Origin").value_or("");
    const auto wanted = request.Header("Access-Control-Request-Method");
    if (!origin.empty()) AppendVary(res, "Origin");
    if (!wanted || !OriginAllowed(origin)) return res;
    std::vector<std::string> methods;
    for (const auto& m : options.cors_methods) {
      if (std::find(allowed.begin(), allowed.end(), m) != allowed.end()) methods.push_back(m);
    }
    if (std::find(methods.begin(), methods.end(), Trim(*wanted)) == methods.end()) return res;
    CorsHeaders(res, origin);
    res.set(bh::field::access_control_allow_methods, Join(methods));
    if (!allow_headers.empty()) res.set(bh::field::access_control_allow_headers, allow_headers);
    res.set(bh::field::access_control_max_age, max_age);
    AppendVary(res, "Access-Control-Request-Method");
    AppendVary(res, "Access-Control-Request-Headers");
    return res;
  }

  void Finish(const http::Request& request, http::Response& res) const {
    // CORS for listed origins only.
    const auto origin = request.Header("Origin").value_or("");
    if (!options.cors_origins.empty()) AppendVary(res, "Origin");
    if (!origin.empty() && OriginAllowed(origin) && res.find(bh::field::access_control_allow_origin) == res.end()) {
      CorsHeaders(res, origin);
      if (!expose_headers.empty()) res.set(bh::field::access_control_expose_headers, expose_headers);
    }
    http::SetSecurityHeaders(res);
    if (!hsts.empty() && Https(request)) res.set(bh::field::strict_transport_security, hsts);
    // Compression.
    // HEAD too: it must carry the GET answer's headers (the server drops the body).
    if (!options.gzip) return;
    if (res.find(bh::field::content_encoding) != res.end() || res.find("X-Ticketd-Stream") != res.end()) return;
    if (res.body().size() < options.gzip_min_bytes || res[bh::field::content_type].find("json") == std::string_view::npos) {
      return;
    }
    AppendVary(res, "Accept-Encoding");
    const auto accept = request.Header("Accept-Encoding");
    if (!accept || !AcceptsGzip(*accept)) return;
    res.body() = Gzip(res.body());
    res.set(bh::field::content_encoding, "gzip");
    res.prepare_payload();
  }
};

// ---- rate limits ----

struct ResolvedCategory {
  RatePolicy user;
  RatePolicy ip;
  bool ip_caps_users = false;
};

struct RateState {
  bool enabled = true;
  std::map<std::string, ResolvedCategory, std::less<>> categories;
  std::shared_ptr<RateLimiter> limiter;

  [[nodiscard]] const ResolvedCategory* Find(std::string_view category) const {
    if (auto it = categories.find(category); it != categories.end()) return &it->second;
    if (auto it = categories.find("default"); it != categories.end()) return &it->second;
    return nullptr;
  }
};

struct Applied {
  const RatePolicy* policy;
  RateDecision decision;
};

void RateHeaders(http::Response& res, const std::vector<Applied>& applied) {
  std::string policy;
  std::string state;
  for (const auto& a : applied) {
    if (!policy.empty()) policy += ", ";
    policy += fmt::format("\"{}\";q={};w={}", a.policy->name, a.policy->limit, a.policy->window.count());
    if (!state.empty()) state += ", ";
    state += fmt::format("\"{}\";r={};t={}", a.policy->name, a.decision.remaining, a.decision.reset_seconds);
  }
  if (applied.empty()) return;
  res.set("RateLimit-Policy", policy);
  res.set("RateLimit", state);
}

}  // namespace

// ---- TrustedProxies ----

TrustedProxies::TrustedProxies(const std::vector<std::string>& cidrs) {
  for (const auto& entry : cidrs) {
    const auto slash = entry.find('/');
    const auto address = ParseIp(std::string_view(entry).substr(0, slash));
    if (!address || (slash == std::string::npos && entry.find(':') != std::string::npos && address->is_v4())) {
      throw std::invalid_argument("not an IP address or CIDR: \"" + entry + "\"");
    }
    Net net;
    net.v4 = address->is_v4();
    const int max_prefix = net.v4 ? 32 : 128;
    net.prefix = max_prefix;
    if (slash != std::string::npos) {
      const auto bits = entry.substr(slash + 1);
      if (bits.empty() || bits.size() > 3 || !std::all_of(bits.begin(), bits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        throw std::invalid_argument("bad prefix length in \"" + entry + "\"");
      }
      net.prefix = std::stoi(bits);
      if (net.prefix > max_prefix) throw std::invalid_argument("prefix length too long in \"" + entry + "\"");
    }
    if (net.v4) {
      const auto b = address->to_v4().to_bytes();
      std::copy(b.begin(), b.end(), net.bytes.begin());
    } else {
      const auto b = address->to_v6().to_bytes();
      std::copy(b.begin(), b.end(), net.bytes.begin());
    }
    nets_.push_back(net);
  }
}

bool TrustedProxies::Contains(std::string_view ip) const {
  if (nets_.empty()) return false;
  const auto address = ParseIp(ip);
  if (!address) return false;
  std::array<unsigned char, 16> bytes{};
  if (address->is_v4()) {
    const auto b = address->to_v4().to_bytes();
    std::copy(b.begin(), b.end(), bytes.begin());
  } else {
    const auto b = address->to_v6().to_bytes();
    std::copy(b.begin(), b.end(), bytes.begin());
  }
  for (const auto& net : nets_) {
    if (net.v4 != address->is_v4()) continue;
    int bits = net.prefix;
    bool match = true;
    for (std::size_t i = 0; bits > 0 && match; ++i, bits -= 8) {
      const unsigned mask = bits >= 8 ? 0xFFU : (0xFFU << (8 - bits)) & 0xFFU;
      match = (bytes[i] & mask) == (net.bytes[i] & mask);
    }
    if (match) return true;
  }
  return false;
}

std::string TrustedProxies::ClientIp(std::string_view peer, std::string_view forwarded_for) const {
  std::string client(peer);
  if (forwarded_for.empty() || !Contains(peer)) return client;
  std::vector<std::string_view> hops;
  ForEachItem(forwarded_for, [&](std::string_view item) { hops.push_back(item); });
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    const auto address = ParseIp(*it);
    if (!address) break;
    client = address->to_string();
    if (!Contains(client)) break;
  }
  return client;
}

// ---- options ----

EdgeOptions DefaultEdgeOptions() {
  EdgeOptions o;
  o.categories = {
      {"auth", {10, 10, false}},          {"read", {300, 300, false}},     {"queue-status", {60, 60, false}},
      {"booking", {20, 50, true}},        {"default", {200, 100, false}},  {"queue", {200, 100, false}},
  };
  o.cors_methods = {"GET", "POST", "PUT", "PATCH", "DELETE"};
  o.cors_headers = {"Authorization", "Content-Type", "Idempotency-Key", "X-Queue-Token", "X-Request-Id"};
  o.cors_expose_headers = {"X-Request-Id", "Retry-After", "RateLimit", "RateLimit-Policy", "Location", "ETag"};
  return o;
}

EdgeOptions EdgeOptionsFrom(const config::Config& c) {
  EdgeOptions o = DefaultEdgeOptions();
  o.trusted_proxies = c.List("edge.trusted_proxies");
  try {
    (void)TrustedProxies(o.trusted_proxies);
  } catch (const std::invalid_argument& e) {
    throw config::ConfigError("edge.trusted_proxies", e.what());
  }
  o.rate_limit_enabled = c.Bool("edge.rate_limit_enabled");
  o.rate_window = std::chrono::seconds(c.Int("edge.rate_limit_window_seconds"));
  o.rate_max_keys = static_cast<std::size_t>(c.Int("edge.rate_limit_max_keys"));
  const auto auth_ip = c.Int("edge.rate_limit_auth_per_ip");
  const auto read_ip = c.Int("edge.rate_limit_read_per_ip");
  const auto status_user = c.Int("edge.rate_limit_queue_status_per_user");
  const auto default_user = c.Int("edge.rate_limit_default_per_user");
  const auto default_ip = c.Int("edge.rate_limit_default_per_ip");
  o.categories["auth"] = {auth_ip, auth_ip, false};
  o.categories["read"] = {read_ip, read_ip, false};
  o.categories["queue-status"] = {status_user, status_user, false};
  o.categories["booking"] = {c.Int("edge.rate_limit_booking_per_user"), c.Int("edge.rate_limit_booking_per_ip"), true};
  o.categories["default"] = {default_user, default_ip, false};
  o.categories["queue"] = {default_user, default_ip, false};

  o.cors_origins = c.List("edge.cors_origins");
  for (const auto& origin : o.cors_origins) {
    if (origin == "*") continue;
    const auto scheme_end = origin.find("://");
    const bool ok = (origin.starts_with("http://") || origin.starts_with("https://")) && scheme_end != std::string::npos &&
                    origin.size() > scheme_end + 3 && origin.find('/', scheme_end + 3) == std::string::npos;
    if (!ok) {
      throw config::ConfigError("edge.cors_origins",
                                "expected \"*\" or origins like \"https://tickets.example.com\" (no path), got \"" + origin + "\"");
    }
  }
  o.cors_methods = c.List("edge.cors_methods");
  o.cors_headers = c.List("edge.cors_headers");
  o.cors_expose_headers = c.List("edge.cors_expose_headers");
  o.cors_credentials = c.Bool("edge.cors_allow_credentials");
  o.cors_max_age = c.Int("edge.cors_max_age_seconds");
  o.hsts_max_age = c.Int("edge.hsts_max_age_seconds");
  o.gzip = c.Bool("edge.gzip");
  o.gzip_min_bytes = static_cast<std::size_t>(c.Int("edge.gzip_min_bytes"));
  return o;
}

// ---- gzip ----

bool AcceptsGzip(std::string_view accept_encoding) {
  bool gzip = false;
  bool gzip_said = false;
  bool star = false;
  ForEachItem(accept_encoding, [&](std::string_view item) {
    const auto semi = item.find(';');
    const auto coding = Trim(item.substr(0, semi));
    bool acceptable = true;
    if (semi != std::string_view::npos) {
      auto params = item.substr(semi + 1);
      while (!params.empty()) {
        const auto next = params.find(';');
        const auto p = Trim(params.substr(0, next));
        if (p.size() >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
          const auto q = Trim(p.substr(2));
          // q=0, q=0.0, q=0.00, q=0.000 refuse.
          acceptable = !(q.starts_with('0') && q.find_first_not_of("0.") == std::string_view::npos);
        }
        if (next == std::string_view::npos) break;
        params.remove_prefix(next + 1);
      }
    }
    if (IEquals(coding, "gzip") || IEquals(coding, "x-gzip")) {
      gzip_said = true;
      gzip = gzip || acceptable;
    } else if (coding == "*") {
      star = acceptable;
    }
  });
  return gzip_said ? gzip : star;
}

// ---- middleware ----

http::Middleware EdgeMiddleware(const EdgeOptions& options, const http::Router& router) {
  auto state = std::make_shared<const EdgeState>(options, router);
  return [state](http::Request& request, const http::Next& next) -> boost::asio::awaitable<http::Response> {
    if (!state->proxies.empty()) {
      const auto xff = request.Header("X-Forwarded-For");
      if (xff) request.client_ip = state->proxies.ClientIp(request.peer_ip, *xff);
    }
    http::Response response;
    std::optional<http::Response> preflight;
    if (request.raw.method() == http::Verb::options && request.handler == nullptr) preflight = state->Options(request);
    if (preflight) {
      response = std::move(*preflight);
    } else {
      auto task = next(request);
      response = co_await std::move(task);
    }
    state->Finish(request, response);
    co_return response;
  };
}

http::Middleware AuthMiddleware(const auth::TokenVerifier& verifier) {
  return [&verifier](http::Request& request, const http::Next& next) -> boost::asio::awaitable<http::Response> {
    const auto level = request.meta != nullptr ? request.meta->auth : http::AuthLevel::kPublic;
    if (level != http::AuthLevel::kUser && level != http::AuthLevel::kAdmin) {
      auto task = next(request);
      co_return co_await std::move(task);
    }

    const auto token = BearerToken(request);
    if (!token) co_return Challenge(problems::Unauthenticated("A Bearer access token is required"), request, "");
    const auto verified = verifier.Verify(*token);
    if (!verified) {
      if (verified.error() == auth::TokenError::kExpired) {
        co_return Challenge(problems::Make(401, "TOKEN_EXPIRED", "Token expired", "The access token has expired; refresh it"),
                            request, "invalid_token");
      }
      co_return Challenge(problems::Unauthenticated("The access token is invalid or revoked"), request, "invalid_token");
    }
    if (level == http::AuthLevel::kAdmin && verified->role != auth::kRoleAdmin) {
      co_return http::ProblemResponse(problems::Forbidden("This route is for administrators"), request.request_id);
    }
    request.principal = http::Principal{verified->user_id, verified->role, verified->token_id,
                                        std::chrono::system_clock::time_point(std::chrono::seconds(verified->expires_at))};
    auto task = next(request);
    auto response = co_await std::move(task);
    response.set(bh::field::cache_control, "no-store");
    co_return response;
  };
}

http::Middleware RateLimitMiddleware(const EdgeOptions& options, std::shared_ptr<RateLimiter> limiter) {
  auto state = std::make_shared<RateState>();
  state->enabled = options.rate_limit_enabled;
  state->limiter = limiter ? std::move(limiter) : std::make_shared<RateLimiter>(options.rate_max_keys);
  for (const auto& [name, limits] : options.categories) {
    ResolvedCategory r;
    r.user = RatePolicy{name + "-user", limits.per_user, options.rate_window};
    r.ip = RatePolicy{name + "-ip", limits.per_ip, options.rate_window};
    r.ip_caps_users = limits.ip_caps_users;
    state->categories.emplace(name, std::move(r));
  }
  return [state](http::Request& request, const http::Next& next) -> boost::asio::awaitable<http::Response> {
    const std::string_view category = request.meta != nullptr ? std::string_view(request.meta->rate_category) : "default";
    const ResolvedCategory* resolved = state->enabled && category != "ops" ? state->Find(category) : nullptr;
    if (resolved == nullptr) {
      auto task = next(request);
      co_return co_await std::move(task);
    }
    const auto level = request.meta != nullptr ? request.meta->auth : http::AuthLevel::kPublic;
    const bool authenticated =
        (level == http::AuthLevel::kUser || level == http::AuthLevel::kAdmin) && request.principal.has_value();
    std::vector<Applied> applied;
    std::optional<Applied> refused;
    const auto now = RateLimiter::Clock::now();
    auto take = [&](const RatePolicy& policy, std::string_view key) {
      if (policy.limit <= 0 || refused) return;
      const auto d = state->limiter->Take(policy, key, now);
      applied.push_back({&policy, d});
      if (!d.allowed) refused = applied.back();
    };
    if (authenticated) {
      take(resolved->user, request.principal->user_id);
      if (resolved->ip_caps_users) take(resolved->ip, request.client_ip);
    } else {
      take(resolved->ip, request.client_ip);
    }
    if (refused) {
      auto problem = problems::Make(
          429, "RATE_LIMITED", "Too many requests",
          fmt::format("More than {} requests in {} s ({}); retry after {} s", refused->policy->limit,
                      refused->policy->window.count(), refused->policy->name, refused->decision.retry_after));
      problem.retry_after = static_cast<int>(refused->decision.retry_after);
      auto res = http::ProblemResponse(problem, request.request_id);
      RateHeaders(res, applied);
      co_return res;
    }
    auto task = next(request);
    auto response = co_await std::move(task);
    RateHeaders(response, applied);
    co_return response;
  };
}

}  // namespace ticketd::app
