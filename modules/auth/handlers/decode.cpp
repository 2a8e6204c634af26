// Request decoding of the auth routes (decode.hpp).
#include "auth/handlers/decode.hpp"

#include <boost/json.hpp>

#include "auth/validation.hpp"
#include "ticketd/core/json_fields.hpp"

namespace ticketd::auth {

using http::Request;

RegisterInput DecodeRegister(const Request& r) {
  JsonFields f(r.JsonBody(), {"email", "password", "name", "phone", "termsAgreed", "captchaToken", "identityVerificationId"});
  RegisterInput in;
  in.email = f.String("email", 320);
  in.password = f.String("password", 4 * kMaxPassword);
  in.name = f.String("name", 200);
  in.phone = f.String("phone", 40);
  in.captcha_token = f.String("captchaToken", 4096);
  in.identity_verification_id = f.String("identityVerificationId", 100);
  const auto terms = f.Array("termsAgreed", 20);
  for (std::size_t i = 0; i < terms.size(); ++i) {
    const auto* t = terms[i].if_object();
    const auto* type = t != nullptr ? t->if_contains("type") : nullptr;
    const auto* version = t != nullptr ? t->if_contains("version") : nullptr;
    if (t == nullptr || t->size() != 2 || type == nullptr || !type->is_string() || version == nullptr || !version->is_string()) {
      f.Fail("termsAgreed[" + std::to_string(i) + "]", "must be {\"type\": string, \"version\": string}");
      continue;
    }
    in.terms.push_back({std::string(type->as_string()), std::string(version->as_string()), {}});
  }
  f.Finish();
  return in;
}

PersonData DecodeIdentityVerification(const Request& r) {
  JsonFields f(r.JsonBody(), {"name", "phone", "birthDate"});
  const auto name = f.String("name", 200);
  const auto phone = f.String("phone", 40);
  const auto birth = f.String("birthDate", 10);
  const auto n = NormalizeName(name);
  const auto p = NormalizePhone(phone);
  if (f.ok() && !n) f.Fail("name", "must be 1 to 50 characters");
  if (f.ok() && !p) f.Fail("phone", "must be a phone number of 9 to 15 digits");
  if (f.ok() && !IsBirthDate(birth)) f.Fail("birthDate", "must be a date YYYY-MM-DD");
  f.Finish();
  return {*n, *p, birth};
}

LoginInput DecodeLogin(const Request& r) {
  JsonFields f(r.JsonBody(), {"email", "password", "captchaToken"});
  LoginInput in;
  in.email = f.String("email", 320);
  in.password = f.String("password", 4 * kMaxPassword);
  in.captcha_token = f.String("captchaToken", 4096);
  f.Finish();
  return in;
}

std::string DecodeRefresh(const Request& r) {
  JsonFields f(r.JsonBody(), {"refreshToken"});
  auto token = f.String("refreshToken", 512);
  f.Finish();
  return token;
}

LogoutInput DecodeLogout(const Request& r) {
  LogoutInput in;
  if (r.raw.body().empty()) return in;
  JsonFields f(r.JsonBody(), {"allSessions", "refreshToken"});
  in.all_sessions = f.OptionalBool("allSessions").value_or(false);
  in.refresh_token = f.OptionalString("refreshToken", 512);
  f.Finish();
  return in;
}

ProfilePatch DecodeProfilePatch(const Request& r) {
  JsonFields f(r.JsonBody(), {"name", "phone"});
  ProfilePatch in;
  in.name = f.OptionalString("name", 200);
  in.phone = f.OptionalString("phone", 40);
  f.Finish();
  return in;
}

PasswordChange DecodePasswordChange(const Request& r) {
  JsonFields f(r.JsonBody(), {"currentPassword", "newPassword"});
  PasswordChange in;
  in.current = f.String("currentPassword", 4 * kMaxPassword);
  in.next = f.String("newPassword", 4 * kMaxPassword);
  f.Finish();
  return in;
}

}  // namespace ticketd::auth
