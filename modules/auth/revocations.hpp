#pragma once
// The in-memory denylist behind token verification: revoked access-token ids
// (until they would expire) and users whose tokens issued up to a moment are
// void (withdrawn or deactivated accounts). Filled from auth.revocations at
// start and kept current by polling new rows, so every instance learns of a
// logout elsewhere within the poll interval; local revocations apply at once.

#include <pqxx/connection>

#include <cstdint>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ticketd::auth {

class RevocationCache {
 public:
  /// True when the token (id, subject, issued-at) has been revoked.
  [[nodiscard]] bool IsRevoked(std::string_view jti, std::string_view user_id, std::int64_t issued_at) const;
  void AddToken(const std::string& jti, std::int64_t expires_at);
  void AddUser(const std::string& user_id, std::int64_t cutoff, std::int64_t expires_at);
  /// Reads rows added since the last call (with an overlap); drops expired entries.
  void Refresh(pqxx::connection& conn, std::int64_t now);
  [[nodiscard]] std::size_t size() const;

 private:
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, std::int64_t> tokens_;                          // jti → expires_at
  std::unordered_map<std::string, std::pair<std::int64_t, std::int64_t>> users_;  // user → (cutoff, expires_at)
  double last_seen_ = 0;  // newest created_at read (unix seconds)
};

}  // namespace ticketd::auth
