#include "auth/revocations.hpp"

#include <pqxx/pqxx>

#include <mutex>

namespace ticketd::auth {

bool RevocationCache::IsRevoked(std::string_view jti, std::string_view user_id, std::int64_t issued_at) const {
  std::shared_lock lock(mu_);
  if (!tokens_.empty() && tokens_.contains(std::string(jti))) return true;
  if (users_.empty()) return false;
  const auto it = users_.find(std::string(user_id));
  return it != users_.end() && issued_at <= it->second.first;
}

void RevocationCache::AddToken(const std::string& jti, std::int64_t expires_at) {
  std::unique_lock lock(mu_);
  tokens_[jti] = expires_at;
}

void RevocationCache::AddUser(const std::string& user_id, std::int64_t cutoff, std::int64_t expires_at) {
  std::unique_lock lock(mu_);
  auto& entry = users_[user_id];
  entry.first = std::max(entry.first, cutoff);
  entry.second = std::max(entry.second, expires_at);
}

void RevocationCache::Refresh(pqxx::connection& conn, std::int64_t now) {
  pqxx::nontransaction tx(conn);
  // Rows are read again for a while after they appear: a transaction that
  // committed late with an older timestamp is still seen. Re-adding is harmless.
  const auto rows = tx.exec_params(
      "SELECT extract(epoch FROM created_at)::float8, kind, subject, extract(epoch FROM expires_at)::bigint,"
      " floor(extract(epoch FROM created_at))::bigint"
      " FROM auth.revocations WHERE created_at > to_timestamp($1) - interval '30 seconds' AND expires_at > now()",
      last_seen_);
  std::unique_lock lock(mu_);
  for (const auto& r : rows) {
    last_seen_ = std::max(last_seen_, r[0].as<double>());
    const auto kind = r[1].as<std::string>();
    const auto subject = r[2].as<std::string>();
    const auto expires = r[3].as<std::int64_t>();
    if (kind == "jti") {
      tokens_[subject] = expires;
    } else {
      auto& entry = users_[subject];
      entry.first = std::max(entry.first, r[4].as<std::int64_t>());
      entry.second = std::max(entry.second, expires);
    }
  }
  std::erase_if(tokens_, [now](const auto& kv) { return kv.second < now; });
  std::erase_if(users_, [now](const auto& kv) { return kv.second.second < now; });
}

std::size_t RevocationCache::size() const {
  std::shared_lock lock(mu_);
  return tokens_.size() + users_.size();
}

}  // namespace ticketd::auth
