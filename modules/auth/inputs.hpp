#pragma once
// What the auth routes hand to AuthService: plain data, decoded and checked by
// handlers/decode.cpp (no I/O; fuzzed by fuzz/route_body_fuzz.cpp).

#include <optional>
#include <string>
#include <vector>

namespace ticketd::auth {

struct TermsAgreement {
  std::string type;
  std::string version;
  std::string agreed_at;  // output only
};

struct RegisterInput {
  std::string email, password, name, phone;
  std::vector<TermsAgreement> terms;
  std::string captcha_token;
  std::string identity_verification_id;
};

struct LoginInput {
  std::string email, password, captcha_token;
};

/// POST /auth/identity-verifications (normalized: name trimmed, phone digits).
struct PersonData {
  std::string name;
  std::string phone;       // digits
  std::string birth_date;  // YYYY-MM-DD
};

/// POST /auth/logout: one session (the caller's, or the refresh token's) or all.
struct LogoutInput {
  bool all_sessions = false;
  std::optional<std::string> refresh_token;
};

/// PATCH /users/me: the fields present change.
struct ProfilePatch {
  std::optional<std::string> name;
  std::optional<std::string> phone;
};

/// PUT /users/me/password.
struct PasswordChange {
  std::string current;
  std::string next;
};

}  // namespace ticketd::auth
