// HTTP handlers of the auth module: parse → call AuthService → map the result.
#include "auth/handlers/routes.hpp"

#include <boost/json.hpp>

#include "auth/validation.hpp"
#include "ticketd/core/json_fields.hpp"

namespace ticketd::auth {

namespace json = boost::json;
using http::AuthLevel;
using http::Request;
using http::Response;
using http::Status;
using http::Verb;
using Awaitable = boost::asio::awaitable<Response>;

namespace {

constexpr std::size_t kAuthBodyLimit = 16 * 1024;

json::object ToJson(const UserView& u) {
  json::array terms;
  for (const auto& t : u.terms) terms.push_back(json::object{{"type", t.type}, {"version", t.version}, {"agreedAt", t.agreed_at}});
  json::object o{{"userId", u.id},     {"email", u.email},   {"name", u.name},
                 {"phone", u.phone},   {"role", u.role},     {"status", u.status},
                 {"createdAt", u.created_at}, {"termsAgreed", std::move(terms)}};
  o["lastLoginAt"] = u.last_login_at ? json::value(*u.last_login_at) : json::value(nullptr);
  return o;
}

json::object ToJson(const TokenPair& t) {
  return {{"accessToken", t.access_token},
          {"refreshToken", t.refresh_token},
          {"tokenType", "Bearer"},
          {"expiresIn", t.expires_in},
          {"refreshExpiresIn", t.refresh_expires_in}};
}

ClientInfo Client(const Request& r) {
  return {r.client_ip, std::string(r.Header("User-Agent").value_or(""))};
}

VerifiedToken Caller(const Request& r) {
  if (!r.principal) throw ApiError(problems::Unauthenticated());
  const auto exp = std::chrono::duration_cast<std::chrono::seconds>(r.principal->token_expires_at.time_since_epoch()).count();
  return {r.principal->user_id, r.principal->role, r.principal->token_id, exp};
}

Response NoContent() { return http::Empty(Status::no_content); }

}  // namespace

void AddRoutes(http::Router& router, AuthService& service) {
  const http::RouteMeta open{AuthLevel::kPublic, "auth", kAuthBodyLimit};
  const http::RouteMeta user{AuthLevel::kUser, "default", kAuthBodyLimit};

  router.Add(Verb::post, "/api/v1/auth/register", open, [&service](Request& r) -> Awaitable {
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
    auto client = Client(r);
    const auto user_view = co_await service.Register(std::move(in), std::move(client));
    auto res = http::Json(Status::created, ToJson(user_view));
    res.set(http::beast_http::field::location, "/api/v1/users/me");
    co_return res;
  });

  router.Add(Verb::post, "/api/v1/auth/identity-verifications", open, [&service](Request& r) -> Awaitable {
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
    // A named value, not a braced temporary: GCC 12 double-destroys braced
    // aggregates passed as coroutine arguments.
    PersonData person{*n, *p, birth};
    const auto id = co_await service.StartIdentityVerification(std::move(person));
    co_return http::Json(Status::created, json::object{{"identityVerificationId", id}});
  });

  router.Add(Verb::post, "/api/v1/auth/login", open, [&service](Request& r) -> Awaitable {
    JsonFields f(r.JsonBody(), {"email", "password", "captchaToken"});
    LoginInput in;
    in.email = f.String("email", 320);
    in.password = f.String("password", 4 * kMaxPassword);
    in.captcha_token = f.String("captchaToken", 4096);
    f.Finish();
    auto client = Client(r);
    const auto tokens = co_await service.Login(std::move(in), std::move(client));
    co_return http::Json(Status::ok, ToJson(tokens));
  });

  router.Add(Verb::post, "/api/v1/auth/refresh", open, [&service](Request& r) -> Awaitable {
    JsonFields f(r.JsonBody(), {"refreshToken"});
    auto token = f.String("refreshToken", 512);
    f.Finish();
    auto client = Client(r);
    const auto tokens = co_await service.Refresh(std::move(token), std::move(client));
    co_return http::Json(Status::ok, ToJson(tokens));
  });

  router.Add(Verb::post, "/api/v1/auth/logout", user, [&service](Request& r) -> Awaitable {
    bool all = false;
    std::optional<std::string> refresh;
    if (!r.raw.body().empty()) {
      JsonFields f(r.JsonBody(), {"allSessions", "refreshToken"});
      all = f.OptionalBool("allSessions").value_or(false);
      refresh = f.OptionalString("refreshToken", 512);
      f.Finish();
    }
    auto caller = Caller(r);
    co_await service.Logout(std::move(caller), all, std::move(refresh));
    co_return NoContent();
  });

  router.Add(Verb::get, "/api/v1/users/me", user, [&service](Request& r) -> Awaitable {
    auto user_id = Caller(r).user_id;
    const auto me = co_await service.Me(std::move(user_id));
    co_return http::Json(Status::ok, ToJson(me));
  });

  router.Add(Verb::patch, "/api/v1/users/me", user, [&service](Request& r) -> Awaitable {
    JsonFields f(r.JsonBody(), {"name", "phone"});
    auto name = f.OptionalString("name", 200);
    auto phone = f.OptionalString("phone", 40);
    f.Finish();
    auto user_id = Caller(r).user_id;
    const auto me = co_await service.UpdateMe(std::move(user_id), std::move(name), std::move(phone));
    co_return http::Json(Status::ok, ToJson(me));
  });

  router.Add(Verb::put, "/api/v1/users/me/password", user, [&service](Request& r) -> Awaitable {
    JsonFields f(r.JsonBody(), {"currentPassword", "newPassword"});
    auto current = f.String("currentPassword", 4 * kMaxPassword);
    auto next = f.String("newPassword", 4 * kMaxPassword);
    f.Finish();
    auto caller = Caller(r);
    co_await service.ChangePassword(std::move(caller), std::move(current), std::move(next));
    co_return NoContent();
  });

  router.Add(Verb::delete_, "/api/v1/users/me", user, [&service](Request& r) -> Awaitable {
    auto caller = Caller(r);
    co_await service.Withdraw(std::move(caller));
    co_return NoContent();
  });

  router.Add(Verb::get, "/api/v1/terms", http::RouteMeta{AuthLevel::kPublic, "read", std::nullopt},
             [&service](Request&) -> Awaitable {
               json::array items;
               const auto terms = co_await service.Terms();
               for (const auto& t : terms) {
                 items.push_back(json::object{{"type", t.type},
                                              {"version", t.version},
                                              {"title", t.title},
                                              {"required", t.required},
                                              {"url", t.url}});
               }
               co_return http::Json(Status::ok, json::object{{"items", std::move(items)}});
             });
}

}  // namespace ticketd::auth
