#pragma once
// The auth module's domain logic. Handlers parse HTTP and call these; every
// documented failure is thrown as ApiError with the code from API.md.
// Thread-safe; blocking work runs on the module's DB pool and hashing pool.

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "auth/adapters.hpp"
#include "auth/crypto.hpp"
#include "auth/inputs.hpp"
#include "auth/jwt.hpp"
#include "auth/options.hpp"
#include "auth/revocations.hpp"
#include "ticketd/auth/auth.hpp"
#include "ticketd/core/db.hpp"
#include "ticketd/core/metrics.hpp"
#include "ticketd/core/worker_pool.hpp"

namespace ticketd::auth {

struct ClientInfo {
  std::string ip;
  std::string user_agent;
};

struct UserView {
  std::string id, email, name, phone, role, status, created_at;
  std::optional<std::string> last_login_at;
  std::vector<TermsAgreement> terms;
};

struct TokenPair {
  std::string access_token, refresh_token;
  std::int64_t expires_in = 0, refresh_expires_in = 0;
};

struct TermsView {
  std::string type, version, title, url;
  bool required = false;
};

class AuthService final : public TokenVerifier, public UserDirectory {
 public:
  AuthService(AuthOptions options, db::Pool& pool, WorkerPool& hashing, std::unique_ptr<CaptchaVerifier> captcha,
              std::unique_ptr<IdentityVerifier> identity, metrics::Registry* registry);
  ~AuthService() override;

  /// Starts loading and following the denylist (in the background).
  void Start();
  void Stop();
  /// True once the denylist has been loaded (readiness).
  [[nodiscard]] bool ready() const noexcept { return ready_.load(); }

  [[nodiscard]] std::expected<VerifiedToken, TokenError> Verify(std::string_view access_token) const override;
  boost::asio::awaitable<std::optional<UserSummary>> FindUser(std::string user_id) override;

  /// 201 user. EMAIL_TAKEN 409, IDENTITY_ALREADY_REGISTERED 409, CAPTCHA_FAILED 400,
  /// WEAK_PASSWORD 422, TERMS_REQUIRED 422, IDENTITY_VERIFICATION_FAILED 422, VALIDATION_FAILED 400/422.
  boost::asio::awaitable<UserView> Register(RegisterInput input, ClientInfo client);
  /// A new verification id; the sandbox verifies at once from the person's data.
  boost::asio::awaitable<std::string> StartIdentityVerification(PersonData person);
  /// INVALID_CREDENTIALS 401 (unknown email and wrong password alike, same cost),
  /// ACCOUNT_LOCKED 423 (+Retry-After), ACCOUNT_INACTIVE 403, CAPTCHA_FAILED 400.
  boost::asio::awaitable<TokenPair> Login(LoginInput input, ClientInfo client);
  /// Rotates within the family. REFRESH_TOKEN_REUSED 401 (family revoked),
  /// TOKEN_EXPIRED 401, UNAUTHENTICATED 401, CONFLICT 409 (the same token is being
  /// rotated by a concurrent request: exactly one wins).
  boost::asio::awaitable<TokenPair> Refresh(std::string refresh_token, ClientInfo client);
  /// Revokes the caller's session (its refresh family and this access token) or all sessions.
  boost::asio::awaitable<void> Logout(VerifiedToken caller, bool all_sessions, std::optional<std::string> refresh_token);
  boost::asio::awaitable<UserView> Me(std::string user_id);
  boost::asio::awaitable<UserView> UpdateMe(std::string user_id, std::optional<std::string> name,
                                            std::optional<std::string> phone);
  /// CURRENT_PASSWORD_INCORRECT 422, WEAK_PASSWORD 422. Revokes every other session.
  boost::asio::awaitable<void> ChangePassword(VerifiedToken caller, std::string current, std::string next);
  /// Soft delete: personal data erased, sessions revoked, the identity blocked for a while.
  boost::asio::awaitable<void> Withdraw(VerifiedToken caller);
  boost::asio::awaitable<std::vector<TermsView>> Terms();

  /// Creates a user without captcha or identity verification (admin bootstrap,
  /// dev seed). With `exist_ok`, an existing email returns its id unchanged.
  std::string CreateUserSync(const std::string& email, const std::string& password, const std::string& name,
                             const std::string& phone, const std::string& role, bool exist_ok);

  /// One bench/test account made by SeedUsersSync; `access_token` is set when
  /// tokens were asked for (a session issued as a login would, without the
  /// password check).
  struct SeededUser {
    std::string email;
    std::string id;
    std::string access_token;
  };
  /// Development only (the caller refuses production): `count` USER accounts
  /// `<prefix>-<i>@bench.test` (i = first..first+count-1) sharing one password,
  /// hashed once; inserted in batches of 1,000 per transaction. Existing
  /// emails are kept (their id returned, and a token when asked for). Throws
  /// std::invalid_argument for a bad prefix/password/count.
  std::vector<SeededUser> SeedUsersSync(const std::string& prefix, int first, int count, const std::string& password,
                                        bool issue_tokens);

 private:
  struct Issued {
    TokenPair pair;
    std::string jti;
    std::int64_t access_exp;
  };
  Issued IssueTokens(pqxx::work& tx, const std::string& user_id, const std::string& role,
                     const std::optional<std::string>& family_id);
  std::vector<std::pair<std::string, std::int64_t>> RevokeFamilies(pqxx::work& tx, const std::string& where,
                                                                   const std::string& arg, const std::string& reason);
  // `caller`: the id comes from a verified access token, so a missing account
  // means the token no longer names anyone (401), not a missing resource (404).
  UserView LoadUser(pqxx::work& tx, const std::string& user_id, bool caller = false);
  void RecordLogin(pqxx::work& tx, const std::optional<std::string>& user_id, const ClientInfo& client, bool success,
                   const std::string& reason);
  void PollRevocations();
  std::string Encrypt(const std::string& user_id, std::string_view field, std::string_view value) const;
  std::string Decrypt(const std::string& user_id, std::string_view field, std::string_view value) const;

  AuthOptions options_;
  db::Pool& pool_;
  WorkerPool& hashing_;
  std::unique_ptr<CaptchaVerifier> captcha_;
  std::unique_ptr<IdentityVerifier> identity_;
  PasswordHasher hasher_;
  FieldCipher cipher_;
  BlindIndex index_;
  JwtSigner signer_;
  RevocationCache revocations_;
  std::thread poller_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> ready_{false};
  metrics::Registry* registry_;
};

}  // namespace ticketd::auth
