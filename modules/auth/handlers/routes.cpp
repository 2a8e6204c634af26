// HTTP handlers of the auth module: parse → call AuthService → map the result.
#include "auth/handlers/routes.hpp"

#include <boost/json.hpp>

#include "auth/handlers/decode.hpp"

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
    auto in = DecodeRegister(r);
    auto client = Client(r);
    const auto user_view = co_await service.Register(std::move(in), std::move(client));
    auto res = http::Json(Status::created, ToJson(user_view));
    res.set(http::beast_http::field::location, "/api/v1/users/me");
    co_return res;
  });

  router.Add(Verb::post, "/api/v1/auth/identity-verifications", open, [&service](Request& r) -> Awaitable {
    // A named value, not a braced temporary: GCC 12 double-destroys braced
    // aggregates passed as coroutine arguments.
    PersonData person = DecodeIdentityVerification(r);
    const auto id = co_await service.StartIdentityVerification(std::move(person));
    co_return http::Json(Status::created, json::object{{"identityVerificationId", id}});
  });

  router.Add(Verb::post, "/api/v1/auth/login", open, [&service](Request& r) -> Awaitable {
    auto in = DecodeLogin(r);
    auto client = Client(r);
    const auto tokens = co_await service.Login(std::move(in), std::move(client));
    co_return http::Json(Status::ok, ToJson(tokens));
  });

  router.Add(Verb::post, "/api/v1/auth/refresh", open, [&service](Request& r) -> Awaitable {
    auto token = DecodeRefresh(r);
    auto client = Client(r);
    const auto tokens = co_await service.Refresh(std::move(token), std::move(client));
    co_return http::Json(Status::ok, ToJson(tokens));
  });

  router.Add(Verb::post, "/api/v1/auth/logout", user, [&service](Request& r) -> Awaitable {
    auto in = DecodeLogout(r);
    auto caller = Caller(r);
    co_await service.Logout(std::move(caller), in.all_sessions, std::move(in.refresh_token));
    co_return NoContent();
  });

  router.Add(Verb::get, "/api/v1/users/me", user, [&service](Request& r) -> Awaitable {
    auto user_id = Caller(r).user_id;
    const auto me = co_await service.Me(std::move(user_id));
    co_return http::Json(Status::ok, ToJson(me));
  });

  router.Add(Verb::patch, "/api/v1/users/me", user, [&service](Request& r) -> Awaitable {
    auto patch = DecodeProfilePatch(r);
    auto user_id = Caller(r).user_id;
    const auto me = co_await service.UpdateMe(std::move(user_id), std::move(patch.name), std::move(patch.phone));
    co_return http::Json(Status::ok, ToJson(me));
  });

  router.Add(Verb::put, "/api/v1/users/me/password", user, [&service](Request& r) -> Awaitable {
    auto change = DecodePasswordChange(r);
    auto caller = Caller(r);
    co_await service.ChangePassword(std::move(caller), std::move(change.current), std::move(change.next));
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
