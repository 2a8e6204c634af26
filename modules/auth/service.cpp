#include "auth/service.hpp"

#include "ticketd/core/input.hpp"

#include <pqxx/pqxx>

#include <algorithm>
#include <cctype>
#include <chrono>

#include "auth/validation.hpp"
#include "ticketd/core/ids.hpp"
#include "ticketd/core/log.hpp"

namespace ticketd::auth {

using namespace std::chrono_literals;

namespace {

constexpr const char* kTs = "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'";
// A second refresh with the same token within this window is a concurrent
// duplicate (two tabs, a retried request), not theft: it loses, nothing is revoked.
constexpr int kRefreshGraceSeconds = 2;

std::int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string Ts(const std::string& column) { return "to_char(" + column + " AT TIME ZONE 'UTC', " + kTs + ")"; }

[[noreturn]] void Throw(int status, const char* code, const char* title, std::string detail) {
  throw ApiError(problems::Make(status, code, title, std::move(detail)));
}

[[noreturn]] void InvalidCredentials() {
  Throw(401, "INVALID_CREDENTIALS", "Invalid credentials", "The email or password is incorrect");
}

PasswordHasher MakeHasher(const AuthOptions& o) {
  if (o.password_params_for_testing) return PasswordHasher::ForTesting();
  return PasswordHasher({o.password_opslimit, o.password_memlimit_bytes});
}

std::vector<JwtKey> PreviousKeys(const AuthOptions& o) {
  std::vector<JwtKey> keys;
  for (const auto& [id, secret] : o.jwt_previous_keys) keys.push_back({id, secret});
  return keys;
}

void CheckNewPassword(const std::string& password, const std::string& email) {
  switch (CheckPassword(password, email)) {
    case PasswordVerdict::kOk:
      return;
    case PasswordVerdict::kTooShort:
      throw ApiError(problems::Make(422, "WEAK_PASSWORD", "Weak password", "Passwords need at least 8 characters"));
    case PasswordVerdict::kEqualsEmail:
      throw ApiError(problems::Make(422, "WEAK_PASSWORD", "Weak password", "The password must not be the email address"));
    case PasswordVerdict::kTooLong:
      throw ApiError(problems::ValidationFailed("Passwords have at most 128 characters", {{"password", "is too long"}}));
    case PasswordVerdict::kInvalidText:
      throw ApiError(problems::ValidationFailed("The password is not valid UTF-8", {{"password", "invalid text"}}));
  }
}

}  // namespace

AuthService::AuthService(AuthOptions options, db::Pool& pool, WorkerPool& hashing,
                         std::unique_ptr<CaptchaVerifier> captcha, std::unique_ptr<IdentityVerifier> identity,
                         metrics::Registry* registry)
    : options_(std::move(options)),
      pool_(pool),
      hashing_(hashing),
      captcha_(std::move(captcha)),
      identity_(std::move(identity)),
      hasher_(MakeHasher(options_)),
      cipher_(options_.data_key_id, options_.data_key, options_.previous_data_keys),
      index_(options_.index_key),
      signer_({options_.jwt_key_id, options_.jwt_secret}, PreviousKeys(options_), options_.issuer, options_.audience,
              options_.leeway_seconds),
      registry_(registry) {}

AuthService::~AuthService() { Stop(); }

void AuthService::Start() {
  poller_ = std::thread([this] { PollRevocations(); });
}

void AuthService::Stop() {
  stop_ = true;
  if (poller_.joinable()) poller_.join();
}

void AuthService::PollRevocations() {
  // The first load happens at once (and is retried until Postgres answers);
  // readiness stays off until then, so no revoked token slips through a restart.
  bool first = true;
  while (!stop_) {
    if (!first) {
      const auto until = std::chrono::steady_clock::now() + options_.revocation_poll;
      while (!stop_ && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(20ms);
      if (stop_) break;
    }
    try {
      pool_.RunSync([this](pqxx::connection& c) { revocations_.Refresh(c, Now()); });
      ready_ = true;
      first = false;
    } catch (const std::exception& e) {
      if (!first) log::Warn("auth: cannot refresh the token denylist", {{"error", e.what()}});
      if (first) std::this_thread::sleep_for(200ms);
    }
  }
}

std::string AuthService::Encrypt(const std::string& user_id, std::string_view field, std::string_view value) const {
  return cipher_.Encrypt(value, "user:" + user_id + ":" + std::string(field));
}

std::string AuthService::Decrypt(const std::string& user_id, std::string_view field, std::string_view value) const {
  if (value.empty()) return {};
  return cipher_.Decrypt(value, "user:" + user_id + ":" + std::string(field));
}

std::expected<VerifiedToken, TokenError> AuthService::Verify(std::string_view access_token) const {
  const auto claims = signer_.Verify(access_token, Now());
  if (!claims) return std::unexpected(claims.error() == JwtError::kExpired ? TokenError::kExpired : TokenError::kInvalid);
  if (claims->role != kRoleUser && claims->role != kRoleAdmin) return std::unexpected(TokenError::kInvalid);
  if (revocations_.IsRevoked(claims->jti, claims->subject, claims->issued_at)) return std::unexpected(TokenError::kRevoked);
  return VerifiedToken{claims->subject, claims->role, claims->jti, claims->expires_at};
}

AuthService::Issued AuthService::IssueTokens(pqxx::work& tx, const std::string& user_id, const std::string& role,
                                             const std::optional<std::string>& family_id) {
  const auto now = Now();
  Issued out;
  out.jti = NewUuid();
  out.access_exp = now + options_.access_ttl.count();
  AccessClaims claims{options_.issuer, options_.audience, user_id, role, out.jti, now, out.access_exp};
  out.pair.access_token = signer_.Sign(claims);
  out.pair.refresh_token = "rt_" + RandomToken();
  out.pair.expires_in = options_.access_ttl.count();
  out.pair.refresh_expires_in = options_.refresh_ttl.count();
  std::string family = family_id.value_or(NewUuid());
  if (family_id) {
    tx.exec_params0("UPDATE auth.token_families SET last_access_jti = $2, last_access_exp = to_timestamp($3) WHERE id = $1",
                    family, out.jti, out.access_exp);
  } else {
    tx.exec_params0("INSERT INTO auth.token_families (id, user_id, last_access_jti, last_access_exp)"
                    " VALUES ($1, $2, $3, to_timestamp($4))",
                    family, user_id, out.jti, out.access_exp);
  }
  tx.exec_params0("INSERT INTO auth.refresh_tokens (token_hash, family_id, user_id, expires_at)"
                  " VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
                  Sha256Hex(out.pair.refresh_token), family, user_id, static_cast<double>(options_.refresh_ttl.count()));
  return out;
}

std::vector<std::pair<std::string, std::int64_t>> AuthService::RevokeFamilies(pqxx::work& tx, const std::string& where,
                                                                              const std::string& arg,
                                                                              const std::string& reason) {
  std::vector<std::pair<std::string, std::int64_t>> jtis;
  const auto rows = tx.exec_params(
      "UPDATE auth.token_families SET revoked_at = now(), revoke_reason = $2 WHERE revoked_at IS NULL AND " + where +
          " RETURNING last_access_jti, extract(epoch FROM last_access_exp)::bigint",
      arg, reason);
  for (const auto& r : rows) {
    const auto exp = r[1].as<std::int64_t>();
    if (exp <= Now()) continue;
    jtis.emplace_back(r[0].as<std::string>(), exp);
    tx.exec_params0("INSERT INTO auth.revocations (kind, subject, expires_at) VALUES ('jti', $1, to_timestamp($2))",
                    r[0].as<std::string>(), exp);
  }
  return jtis;
}

void AuthService::RecordLogin(pqxx::work& tx, const std::optional<std::string>& user_id, const ClientInfo& client,
                              bool success, const std::string& reason) {
  tx.exec_params0("INSERT INTO auth.login_history (user_id, ip, user_agent, method, success, reason)"
                  " VALUES ($1::uuid, $2, $3, 'password', $4, $5)",
                  user_id ? std::optional<std::string>(*user_id) : std::nullopt, client.ip,
                  http::SanitizeText(client.user_agent, http::kMaxUserAgentBytes), success, reason);
  if (registry_ != nullptr) {
    registry_->GetCounter("ticketd_auth_logins_total", "Login attempts by result", {{"result", reason}}).Inc();
  }
}

UserView AuthService::LoadUser(pqxx::work& tx, const std::string& user_id, bool caller) {
  const auto r = tx.exec_params(
      "SELECT id::text, email_enc, name_enc, phone_enc, role, status, " + Ts("created_at") + ", " + Ts("last_login_at") +
          " FROM auth.users WHERE id = $1 AND status <> 'DELETED'",
      user_id);
  if (r.empty() && caller) throw ApiError(problems::Unauthenticated("The access token's account no longer exists"));
  if (r.empty()) throw ApiError(problems::NotFound("No such user"));
  UserView v;
  v.id = r[0][0].as<std::string>();
  v.email = Decrypt(v.id, "email", r[0][1].as<std::string>());
  v.name = Decrypt(v.id, "name", r[0][2].as<std::string>());
  v.phone = Decrypt(v.id, "phone", r[0][3].as<std::string>());
  v.role = r[0][4].as<std::string>();
  v.status = r[0][5].as<std::string>();
  v.created_at = r[0][6].as<std::string>();
  if (!r[0][7].is_null()) v.last_login_at = r[0][7].as<std::string>();
  for (const auto& t : tx.exec_params("SELECT type, version, " + Ts("agreed_at") +
                                          " FROM auth.terms_agreements WHERE user_id = $1 ORDER BY type",
                                      user_id)) {
    v.terms.push_back({t[0].as<std::string>(), t[1].as<std::string>(), t[2].as<std::string>()});
  }
  return v;
}

boost::asio::awaitable<std::optional<UserSummary>> AuthService::FindUser(std::string user_id) {
  if (!IsUuid(user_id)) co_return std::nullopt;
  co_return co_await pool_.Transact([&](pqxx::work& tx) -> std::optional<UserSummary> {
    try {
      const auto v = LoadUser(tx, user_id);
      return UserSummary{v.id, v.email, v.name, v.role, v.status};
    } catch (const ApiError&) {
      return std::nullopt;
    }
  });
}

boost::asio::awaitable<std::string> AuthService::StartIdentityVerification(PersonData person) {
  const std::string id = "iv_" + NewUuid();
  const auto verified = identity_->VerifyNow(person);
  const std::optional<std::string> ci_index =
      verified ? std::optional<std::string>(index_.Of("ci", verified->ci)) : std::nullopt;
  co_await pool_.Transact([&](pqxx::work& tx) {
    tx.exec_params0("INSERT INTO auth.identity_verifications (id, provider, ci_index, status) VALUES ($1, $2, $3, $4)", id,
                    identity_->provider(), ci_index, verified ? "VERIFIED" : "PENDING");
  });
  co_return id;
}

boost::asio::awaitable<UserView> AuthService::Register(RegisterInput in, ClientInfo client) {
  // 1. Shape of the input (cheap, before any I/O).
  std::vector<FieldError> errors;
  const auto email = NormalizeEmail(in.email);
  if (!email) errors.push_back({"email", "is not a valid email address"});
  const auto name = NormalizeName(in.name);
  if (!name) errors.push_back({"name", "must be 1 to 50 characters"});
  const auto phone = NormalizePhone(in.phone);
  if (!phone) errors.push_back({"phone", "must be a phone number of 9 to 15 digits"});
  if (!errors.empty()) throw ApiError(problems::ValidationFailed("Invalid registration", errors));
  CheckNewPassword(in.password, *email);

  // 2. Captcha.
  std::string captcha_token = in.captcha_token;
  std::string captcha_ip = client.ip;
  if (!co_await captcha_->Verify(std::move(captcha_token), std::move(captcha_ip))) {
    Throw(400, "CAPTCHA_FAILED", "Captcha failed", "The captcha could not be verified; try again");
  }

  // 3. Terms, identity, uniqueness (read-only checks for clear errors; the
  //    unique indexes decide races below).
  const std::string email_index = index_.Of("email", *email);
  struct Checked {
    std::string identity_status;
    std::optional<std::string> ci_index;
  };
  const Checked checked = co_await pool_.Transact([&](pqxx::work& tx) {
    std::vector<FieldError> term_errors;
    std::vector<std::pair<std::string, std::string>> current;
    bool missing_required = false;
    for (const auto& row : tx.exec("SELECT type, version, required FROM auth.terms WHERE current")) {
      current.emplace_back(row[0].as<std::string>(), row[1].as<std::string>());
      const bool agreed = std::any_of(in.terms.begin(), in.terms.end(), [&](const TermsAgreement& a) {
        return a.type == row[0].as<std::string>() && a.version == row[1].as<std::string>();
      });
      if (row[2].as<bool>() && !agreed) missing_required = true;
    }
    for (std::size_t i = 0; i < in.terms.size(); ++i) {
      const auto& a = in.terms[i];
      if (std::find(current.begin(), current.end(), std::make_pair(a.type, a.version)) == current.end()) {
        term_errors.push_back({"termsAgreed[" + std::to_string(i) + "]", "unknown terms type or version"});
      }
    }
    if (!term_errors.empty()) throw ApiError(problems::ValidationFailed("Unknown terms", term_errors, 422));
    if (missing_required) {
      Throw(422, "TERMS_REQUIRED", "Terms required", "Every required terms document must be agreed to (see GET /terms)");
    }
    if (!tx.exec_params("SELECT 1 FROM auth.users WHERE email_index = $1 AND status <> 'DELETED'", email_index).empty()) {
      Throw(409, "EMAIL_TAKEN", "Email taken", "An account with this email exists");
    }
    const auto iv = tx.exec_params("SELECT status, ci_index FROM auth.identity_verifications WHERE id = $1 FOR UPDATE",
                                   in.identity_verification_id);
    if (iv.empty() || iv[0][0].as<std::string>() == "USED") {
      Throw(422, "IDENTITY_VERIFICATION_FAILED", "Identity not verified",
            "The identity verification is unknown or was already used");
    }
    return Checked{iv[0][0].as<std::string>(),
                   iv[0][1].is_null() ? std::nullopt : std::optional<std::string>(iv[0][1].as<std::string>())};
  });
  std::optional<std::string> ci_index = checked.ci_index;
  if (checked.identity_status == "PENDING") {
    std::string verification_id = in.identity_verification_id;
    const auto verified = co_await identity_->Fetch(std::move(verification_id));
    if (verified) ci_index = index_.Of("ci", verified->ci);
  }
  if (!ci_index) {
    Throw(422, "IDENTITY_VERIFICATION_FAILED", "Identity not verified", "The identity verification is not complete");
  }

  // 4. Hash off the I/O threads, bounded.
  auto hash_password = [this, password = in.password] { return hasher_.Hash(password); };
  const std::string hash = co_await hashing_.Run(std::move(hash_password));

  // 5. Write.
  const std::string id = NewUuid();
  try {
    co_return co_await pool_.Transact([&](pqxx::work& tx) {
      if (!tx.exec_params("SELECT 1 FROM auth.blocked_identities WHERE ci_index = $1 AND blocked_until > now()", *ci_index)
               .empty() ||
          !tx.exec_params("SELECT 1 FROM auth.users WHERE ci_index = $1 AND status <> 'DELETED'", *ci_index).empty()) {
        Throw(409, "IDENTITY_ALREADY_REGISTERED", "Already registered", "This person already has an account");
      }
      tx.exec_params0(
          "INSERT INTO auth.users (id, email_index, email_enc, name_enc, phone_enc, password_hash, role, ci_index)"
          " VALUES ($1, $2, $3, $4, $5, $6, 'USER', $7)",
          id, email_index, Encrypt(id, "email", *email), Encrypt(id, "name", *name), Encrypt(id, "phone", *phone), hash,
          *ci_index);
      for (const auto& a : in.terms) {
        tx.exec_params0("INSERT INTO auth.terms_agreements (user_id, type, version) VALUES ($1, $2, $3)"
                        " ON CONFLICT DO NOTHING",
                        id, a.type, a.version);
      }
      tx.exec_params0("UPDATE auth.identity_verifications SET status = 'USED', used_at = now(), ci_index = $2 WHERE id = $1",
                      in.identity_verification_id, *ci_index);
      return LoadUser(tx, id);
    });
  } catch (const pqxx::unique_violation& e) {
    if (std::string_view(e.what()).find("users_email_live") != std::string_view::npos) {
      Throw(409, "EMAIL_TAKEN", "Email taken", "An account with this email exists");
    }
    Throw(409, "IDENTITY_ALREADY_REGISTERED", "Already registered", "This person already has an account");
  }
}

boost::asio::awaitable<TokenPair> AuthService::Login(LoginInput in, ClientInfo client) {
  if (CheckPassword(in.password, "") == PasswordVerdict::kTooLong) {
    throw ApiError(problems::ValidationFailed("Passwords have at most 128 characters", {{"password", "is too long"}}));
  }
  std::string captcha_token = in.captcha_token;
  std::string captcha_ip = client.ip;
  if (!co_await captcha_->Verify(std::move(captcha_token), std::move(captcha_ip))) {
    Throw(400, "CAPTCHA_FAILED", "Captcha failed", "The captcha could not be verified; try again");
  }
  const auto email = NormalizeEmail(in.email);
  struct Account {
    std::string id, hash, role, status;
    std::int64_t locked_for = 0;  // seconds left
  };
  std::optional<Account> account;
  if (email) {
    account = co_await pool_.Transact([&](pqxx::work& tx) -> std::optional<Account> {
      const auto r = tx.exec_params(
          "SELECT id::text, password_hash, role, status,"
          " greatest(0, ceil(extract(epoch FROM locked_until - now())))::bigint"
          " FROM auth.users WHERE email_index = $1 AND status <> 'DELETED'",
          index_.Of("email", *email));
      if (r.empty()) return std::nullopt;
      return Account{r[0][0].as<std::string>(), r[0][1].as<std::string>(), r[0][2].as<std::string>(),
                     r[0][3].as<std::string>(), r[0][4].as<std::int64_t>()};
    });
  }
  const std::string password = in.password;
  if (!account || account->locked_for > 0) {
    // Same cost as a wrong password: nothing to learn from timing.
    auto burn = [this, password] { hasher_.BurnTime(password); };
    co_await hashing_.Run(std::move(burn));
    co_await pool_.Transact([&](pqxx::work& tx) {
      RecordLogin(tx, account ? std::optional<std::string>(account->id) : std::nullopt, client, false,
                  account ? "locked" : "unknown_email");
    });
    if (!account) InvalidCredentials();
    ApiError locked(problems::Make(423, "ACCOUNT_LOCKED", "Account locked",
                                   "Too many failed logins; try again later"));
    auto p = locked.problem();
    p.retry_after = static_cast<int>(account->locked_for);
    throw ApiError(p);
  }
  auto verify = [this, stored = account->hash, password] {
    const bool good = hasher_.Verify(stored, password);
    return std::pair{good, good && hasher_.NeedsRehash(stored) ? std::optional<std::string>(hasher_.Hash(password))
                                                              : std::optional<std::string>()};
  };
  const auto [ok, rehash] = co_await hashing_.Run(std::move(verify));
  if (!ok) {
    const auto locked_now = co_await pool_.Transact([&](pqxx::work& tx) {
      const auto r = tx.exec_params(
          "UPDATE auth.users SET"
          " failed_logins = CASE WHEN first_failed_at IS NULL OR first_failed_at < now() - make_interval(secs => $2)"
          "                      THEN 1 ELSE failed_logins + 1 END,"
          " first_failed_at = CASE WHEN first_failed_at IS NULL OR first_failed_at < now() - make_interval(secs => $2)"
          "                      THEN now() ELSE first_failed_at END"
          " WHERE id = $1 RETURNING failed_logins",
          account->id, static_cast<double>(options_.lockout_window.count()));
      const bool lock = r[0][0].as<int>() >= options_.lockout_threshold;
      if (lock) {
        tx.exec_params0("UPDATE auth.users SET locked_until = now() + make_interval(secs => $2), failed_logins = 0,"
                        " first_failed_at = NULL WHERE id = $1",
                        account->id, static_cast<double>(options_.lockout_duration.count()));
      }
      RecordLogin(tx, account->id, client, false, lock ? "wrong_password_locked" : "wrong_password");
      return lock;
    });
    if (locked_now) {
      auto p = problems::Make(423, "ACCOUNT_LOCKED", "Account locked", "Too many failed logins; try again later");
      p.retry_after = static_cast<int>(options_.lockout_duration.count());
      throw ApiError(p);
    }
    InvalidCredentials();
  }
  if (account->status != "ACTIVE") {
    co_await pool_.Transact([&](pqxx::work& tx) { RecordLogin(tx, account->id, client, false, "inactive"); });
    Throw(403, "ACCOUNT_INACTIVE", "Account inactive", "This account is " + account->status + "; contact support");
  }
  co_return co_await pool_.Transact([&](pqxx::work& tx) {
    tx.exec_params0("UPDATE auth.users SET failed_logins = 0, first_failed_at = NULL, locked_until = NULL,"
                    " last_login_at = now() WHERE id = $1",
                    account->id);
    if (rehash) tx.exec_params0("UPDATE auth.users SET password_hash = $2 WHERE id = $1", account->id, *rehash);
    RecordLogin(tx, account->id, client, true, "success");
    return IssueTokens(tx, account->id, account->role, std::nullopt).pair;
  });
}

boost::asio::awaitable<TokenPair> AuthService::Refresh(std::string refresh_token, ClientInfo /*client*/) {
  if (refresh_token.size() < 10 || refresh_token.size() > 200 || !refresh_token.starts_with("rt_")) {
    throw ApiError(problems::Unauthenticated("Invalid refresh token"));
  }
  const std::string hash = Sha256Hex(refresh_token);
  enum class Result { kRotated, kUnknown, kExpired, kRevoked, kConcurrent, kReused };
  Result result = Result::kUnknown;
  std::vector<std::pair<std::string, std::int64_t>> revoked;
  const auto issued = co_await pool_.Transact([&](pqxx::work& tx) -> std::optional<TokenPair> {
    revoked.clear();
    // The row lock makes concurrent rotations of one token serialize: one wins.
    const auto won = tx.exec_params(
        "UPDATE auth.refresh_tokens t SET rotated_at = now()"
        " FROM auth.token_families f, auth.users u"
        " WHERE t.token_hash = $1 AND t.rotated_at IS NULL AND t.expires_at > now()"
        "   AND f.id = t.family_id AND f.revoked_at IS NULL AND u.id = t.user_id AND u.status = 'ACTIVE'"
        " RETURNING t.family_id::text, t.user_id::text, u.role",
        hash);
    if (!won.empty()) {
      result = Result::kRotated;
      return IssueTokens(tx, won[0][1].as<std::string>(), won[0][2].as<std::string>(), won[0][0].as<std::string>()).pair;
    }
    const auto r = tx.exec_params(
        "SELECT t.family_id::text, t.rotated_at IS NOT NULL, t.expires_at <= now(), f.revoked_at IS NOT NULL,"
        " coalesce(t.rotated_at > now() - make_interval(secs => $2), false)"
        " FROM auth.refresh_tokens t JOIN auth.token_families f ON f.id = t.family_id WHERE t.token_hash = $1",
        hash, static_cast<double>(kRefreshGraceSeconds));
    if (r.empty()) {
      result = Result::kUnknown;
    } else if (r[0][3].as<bool>()) {
      result = Result::kRevoked;
    } else if (r[0][1].as<bool>() && r[0][4].as<bool>()) {
      result = Result::kConcurrent;
    } else if (r[0][1].as<bool>()) {
      // A rotated token came back: someone holds a stolen copy. Revoke the family.
      result = Result::kReused;
      revoked = RevokeFamilies(tx, "id = $1::uuid", r[0][0].as<std::string>(), "refresh_token_reused");
    } else if (r[0][2].as<bool>()) {
      result = Result::kExpired;
    } else {
      result = Result::kRevoked;  // the user is no longer active
    }
    return std::nullopt;
  });
  for (const auto& [jti, exp] : revoked) revocations_.AddToken(jti, exp);
  switch (result) {
    case Result::kRotated:
      co_return *issued;
    case Result::kReused:
      log::Warn("auth: refresh token reuse; session revoked");
      Throw(401, "REFRESH_TOKEN_REUSED", "Refresh token reused",
            "This refresh token was already used; the session has been revoked. Log in again.");
    case Result::kConcurrent:
      throw ApiError(problems::Conflict("CONFLICT", "This refresh token was just rotated by another request"));
    case Result::kExpired:
      Throw(401, "TOKEN_EXPIRED", "Token expired", "The refresh token has expired; log in again");
    case Result::kRevoked:
      throw ApiError(problems::Unauthenticated("The session has ended; log in again"));
    case Result::kUnknown:
      break;
  }
  throw ApiError(problems::Unauthenticated("Invalid refresh token"));
}

boost::asio::awaitable<void> AuthService::Logout(VerifiedToken caller, bool all_sessions,
                                                 std::optional<std::string> refresh_token) {
  std::vector<std::pair<std::string, std::int64_t>> revoked;
  co_await pool_.Transact([&](pqxx::work& tx) {
    revoked.clear();
    tx.exec_params0("INSERT INTO auth.revocations (kind, subject, expires_at) VALUES ('jti', $1, to_timestamp($2))",
                    caller.token_id, caller.expires_at);
    if (all_sessions) {
      revoked = RevokeFamilies(tx, "user_id = $1::uuid", caller.user_id, "logout_all");
      return;
    }
    revoked = RevokeFamilies(tx, "last_access_jti = $1", caller.token_id, "logout");
    if (refresh_token) {
      const auto r = tx.exec_params("SELECT family_id::text FROM auth.refresh_tokens WHERE token_hash = $1 AND user_id = $2",
                                    Sha256Hex(*refresh_token), caller.user_id);
      if (!r.empty()) {
        auto more = RevokeFamilies(tx, "id = $1::uuid", r[0][0].as<std::string>(), "logout");
        revoked.insert(revoked.end(), more.begin(), more.end());
      }
    }
  });
  revocations_.AddToken(caller.token_id, caller.expires_at);
  for (const auto& [jti, exp] : revoked) revocations_.AddToken(jti, exp);
}

boost::asio::awaitable<UserView> AuthService::Me(std::string user_id) {
  co_return co_await pool_.Transact([&](pqxx::work& tx) { return LoadUser(tx, user_id, true); });
}

boost::asio::awaitable<UserView> AuthService::UpdateMe(std::string user_id, std::optional<std::string> name,
                                                       std::optional<std::string> phone) {
  std::vector<FieldError> errors;
  std::optional<std::string> n;
  std::optional<std::string> p;
  if (name && !(n = NormalizeName(*name))) errors.push_back({"name", "must be 1 to 50 characters"});
  if (phone && !(p = NormalizePhone(*phone))) errors.push_back({"phone", "must be a phone number of 9 to 15 digits"});
  if (!name && !phone) errors.push_back({"name", "give name and/or phone"});
  if (!errors.empty()) throw ApiError(problems::ValidationFailed("Invalid profile update", errors));
  co_return co_await pool_.Transact([&](pqxx::work& tx) {
    if (n) tx.exec_params0("UPDATE auth.users SET name_enc = $2, updated_at = now() WHERE id = $1", user_id, Encrypt(user_id, "name", *n));
    if (p) tx.exec_params0("UPDATE auth.users SET phone_enc = $2, updated_at = now() WHERE id = $1", user_id, Encrypt(user_id, "phone", *p));
    return LoadUser(tx, user_id, true);
  });
}

boost::asio::awaitable<void> AuthService::ChangePassword(VerifiedToken caller, std::string current, std::string next) {
  if (CheckPassword(current, "") == PasswordVerdict::kTooLong) {
    throw ApiError(problems::ValidationFailed("Passwords have at most 128 characters", {{"currentPassword", "is too long"}}));
  }
  const auto [hash, email] = co_await pool_.Transact([&](pqxx::work& tx) {
    const auto r = tx.exec_params("SELECT password_hash, email_enc FROM auth.users WHERE id = $1 AND status = 'ACTIVE'",
                                  caller.user_id);
    if (r.empty()) throw ApiError(problems::Unauthenticated("The access token's account no longer exists"));
    return std::pair{r[0][0].as<std::string>(), Decrypt(caller.user_id, "email", r[0][1].as<std::string>())};
  });
  CheckNewPassword(next, email);
  auto rehash = [this, hash, current, next]() -> std::optional<std::string> {
    if (!hasher_.Verify(hash, current)) return std::nullopt;
    return hasher_.Hash(next);
  };
  const auto new_hash = co_await hashing_.Run(std::move(rehash));
  if (!new_hash) {
    Throw(422, "CURRENT_PASSWORD_INCORRECT", "Current password incorrect", "The current password does not match");
  }
  std::vector<std::pair<std::string, std::int64_t>> revoked;
  co_await pool_.Transact([&](pqxx::work& tx) {
    tx.exec_params0("UPDATE auth.users SET password_hash = $2, updated_at = now() WHERE id = $1", caller.user_id, *new_hash);
    // Every other session ends; this one stays.
    revoked = RevokeFamilies(tx, "user_id = $1::uuid AND last_access_jti <> '" + tx.esc(caller.token_id) + "'",
                             caller.user_id, "password_changed");
  });
  for (const auto& [jti, exp] : revoked) revocations_.AddToken(jti, exp);
}

boost::asio::awaitable<void> AuthService::Withdraw(VerifiedToken caller) {
  const auto cutoff = Now();
  const auto until = cutoff + options_.access_ttl.count() + options_.leeway_seconds;
  co_await pool_.Transact([&](pqxx::work& tx) {
    const auto r = tx.exec_params("SELECT ci_index FROM auth.users WHERE id = $1 AND status <> 'DELETED' FOR UPDATE",
                                  caller.user_id);
    if (r.empty()) throw ApiError(problems::Unauthenticated("The access token's account no longer exists"));
    if (!r[0][0].is_null()) {
      tx.exec_params0("INSERT INTO auth.blocked_identities (ci_index, blocked_until, reason)"
                      " VALUES ($1, now() + make_interval(hours => $2), 'withdrawn')"
                      " ON CONFLICT (ci_index) DO UPDATE SET blocked_until = greatest(auth.blocked_identities.blocked_until,"
                      " excluded.blocked_until)",
                      r[0][0].as<std::string>(), static_cast<int>(options_.withdrawn_identity_block.count()));
    }
    // Personal data erased; the row stays for bookings' references.
    tx.exec_params0("UPDATE auth.users SET status = 'DELETED', deleted_at = now(), updated_at = now(),"
                    " email_index = 'deleted:' || id::text, email_enc = '', name_enc = '', phone_enc = '',"
                    " password_hash = '', ci_index = NULL WHERE id = $1",
                    caller.user_id);
    tx.exec_params0("UPDATE auth.login_history SET ip = '', user_agent = '' WHERE user_id = $1", caller.user_id);
    RevokeFamilies(tx, "user_id = $1::uuid", caller.user_id, "withdrawn");
    tx.exec_params0("INSERT INTO auth.revocations (kind, subject, expires_at) VALUES ('user', $1, to_timestamp($2))",
                    caller.user_id, until);
  });
  revocations_.AddUser(caller.user_id, cutoff, until);
}

boost::asio::awaitable<std::vector<TermsView>> AuthService::Terms() {
  co_return co_await pool_.Transact([](pqxx::work& tx) {
    std::vector<TermsView> out;
    for (const auto& r : tx.exec("SELECT type, version, title, url, required FROM auth.terms WHERE current ORDER BY required DESC, type")) {
      out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(), r[3].as<std::string>(),
                     r[4].as<bool>()});
    }
    return out;
  });
}

std::string AuthService::CreateUserSync(const std::string& email_in, const std::string& password, const std::string& name_in,
                                        const std::string& phone_in, const std::string& role, bool exist_ok) {
  const auto email = NormalizeEmail(email_in);
  const auto name = NormalizeName(name_in);
  const auto phone = NormalizePhone(phone_in);
  if (!email || !name || !phone) throw std::invalid_argument("invalid email, name or phone");
  if (role != kRoleUser && role != kRoleAdmin) throw std::invalid_argument("role must be USER or ADMIN");
  if (CheckPassword(password, *email) != PasswordVerdict::kOk) {
    throw std::invalid_argument("password must be 8 to 128 characters and not the email");
  }
  const std::string email_index = index_.Of("email", *email);
  const auto existing = pool_.TransactSync([&](pqxx::work& tx) {
    const auto r = tx.exec_params("SELECT id::text FROM auth.users WHERE email_index = $1 AND status <> 'DELETED'", email_index);
    return r.empty() ? std::optional<std::string>() : std::optional<std::string>(r[0][0].as<std::string>());
  });
  if (existing) {
    if (exist_ok) return *existing;
    throw std::invalid_argument("a user with this email exists");
  }
  const std::string hash = hasher_.Hash(password);
  const std::string id = NewUuid();
  pool_.TransactSync([&](pqxx::work& tx) {
    tx.exec_params0(
        "INSERT INTO auth.users (id, email_index, email_enc, name_enc, phone_enc, password_hash, role)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        id, email_index, Encrypt(id, "email", *email), Encrypt(id, "name", *name), Encrypt(id, "phone", *phone), hash, role);
    tx.exec("INSERT INTO auth.terms_agreements (user_id, type, version) SELECT '" + id +
            "', type, version FROM auth.terms WHERE current AND required");
  });
  return id;
}

std::vector<AuthService::SeededUser> AuthService::SeedUsersSync(const std::string& prefix, int first, int count,
                                                               const std::string& password, bool issue_tokens) {
  if (count < 1 || count > 1000000 || first < 0) throw std::invalid_argument("count must be 1..1000000, first >= 0");
  if (prefix.empty() || prefix.size() > 40 ||
      !std::all_of(prefix.begin(), prefix.end(), [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-'; })) {
    throw std::invalid_argument("prefix must be 1-40 letters, digits or '-'");
  }
  const auto probe = NormalizeEmail(prefix + "-0@bench.test");
  if (!probe || CheckPassword(password, *probe) != PasswordVerdict::kOk) {
    throw std::invalid_argument("password must be 8 to 128 characters");
  }
  const std::string hash = hasher_.Hash(password);  // once for everyone: they share the password
  const auto phone = *NormalizePhone("010-0000-0000");
  std::vector<SeededUser> out;
  out.reserve(static_cast<std::size_t>(count));
  constexpr int kBatch = 1000;
  for (int start = first; start < first + count; start += kBatch) {
    const int end = std::min(first + count, start + kBatch);
    pool_.TransactSync([&](pqxx::work& tx) {
      for (int i = start; i < end; ++i) {
        const auto email = *NormalizeEmail(prefix + "-" + std::to_string(i) + "@bench.test");
        const auto name = *NormalizeName("Bench " + std::to_string(i));
        const std::string email_index = index_.Of("email", email);
        const auto existing = tx.exec_params(
            "SELECT id::text, role FROM auth.users WHERE email_index = $1 AND status <> 'DELETED'", email_index);
        if (!existing.empty()) {
          SeededUser u{email, existing[0][0].as<std::string>(), ""};
          if (issue_tokens) u.access_token = IssueTokens(tx, u.id, existing[0][1].as<std::string>(), std::nullopt).pair.access_token;
          out.push_back(std::move(u));
          continue;
        }
        const std::string id = NewUuid();
        tx.exec_params0(
            "INSERT INTO auth.users (id, email_index, email_enc, name_enc, phone_enc, password_hash, role)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            id, email_index, Encrypt(id, "email", email), Encrypt(id, "name", name), Encrypt(id, "phone", phone), hash,
            std::string(kRoleUser));
        tx.exec_params0(
            "INSERT INTO auth.terms_agreements (user_id, type, version)"
            " SELECT $1, type, version FROM auth.terms WHERE current AND required",
            id);
        SeededUser u{email, id, ""};
        if (issue_tokens) u.access_token = IssueTokens(tx, id, std::string(kRoleUser), std::nullopt).pair.access_token;
        out.push_back(std::move(u));
      }
    });
  }
  return out;
}

}  // namespace ticketd::auth
