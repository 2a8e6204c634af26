#pragma once
// The auth module's public surface for other modules and the HTTP edge.
// Written so that it could become an RPC: plain data in and out.

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace ticketd::auth {

inline constexpr std::string_view kRoleUser = "USER";
inline constexpr std::string_view kRoleAdmin = "ADMIN";

struct VerifiedToken {
  std::string user_id;
  std::string role;  // kRoleUser or kRoleAdmin
  std::string token_id;
  std::int64_t expires_at = 0;  // unix seconds
};

enum class TokenError {
  kInvalid,  // malformed, wrong algorithm, bad signature, wrong issuer/audience, not an access token
  kExpired,  // past exp (beyond the leeway)
  kRevoked,  // logged out, or the account is no longer active
};

/// Verifies access tokens. Hot path: no database round trip (signature,
/// claims, and an in-memory denylist kept current from Postgres).
/// Thread-safe.
class TokenVerifier {
 public:
  virtual ~TokenVerifier() = default;
  [[nodiscard]] virtual std::expected<VerifiedToken, TokenError> Verify(std::string_view access_token) const = 0;
};

struct UserSummary {
  std::string user_id;
  std::string email;
  std::string name;
  std::string role;
  std::string status;  // ACTIVE | INACTIVE | DORMANT | DELETED
};

/// Looks users up for other modules (e.g. names on a booking). Errors:
/// DependencyUnavailable when Postgres is down. Thread-safe.
class UserDirectory {
 public:
  virtual ~UserDirectory() = default;
  virtual boost::asio::awaitable<std::optional<UserSummary>> FindUser(std::string user_id) = 0;
};

}  // namespace ticketd::auth
