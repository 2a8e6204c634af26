#include "app/edge.hpp"

#include <cctype>

namespace ticketd::app {

namespace {

http::Response Challenge(const Problem& problem, const http::Request& request, std::string_view error) {
  auto res = http::ProblemResponse(problem, request.request_id);
  std::string value = "Bearer realm=\"ticketd\"";
  if (!error.empty()) value += ", error=\"" + std::string(error) + "\"";
  res.set(http::beast_http::field::www_authenticate, value);
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

}  // namespace

http::Middleware AuthMiddleware(const auth::TokenVerifier& verifier) {
  return [&verifier](http::Request& request, const http::Next& next) -> boost::asio::awaitable<http::Response> {
    const auto level = request.meta != nullptr ? request.meta->auth : http::AuthLevel::kPublic;
    if (level != http::AuthLevel::kUser && level != http::AuthLevel::kAdmin) co_return co_await next(request);

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
    auto response = co_await next(request);
    response.set(http::beast_http::field::cache_control, "no-store");
    co_return response;
  };
}

}  // namespace ticketd::app
