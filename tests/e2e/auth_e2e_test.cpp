// The auth module through the real binary over loopback: the security bar of
// reference/reliability-security.md (Authentication and Authorization).
#include <doctest/doctest.h>

#include <openssl/hmac.h>

#include <boost/json.hpp>

#include <atomic>
#include <future>
#include <thread>

#include "support/http_client.hpp"
#include "support/pg.hpp"
#include "support/process.hpp"

using namespace ticketd;
using namespace std::chrono_literals;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

const std::string kSecret = "e2e-test-jwt-secret-0123456789abcdef0123";  // = E2eEnv

struct Server {
  explicit Server(std::map<std::string, std::string> extra = {}) {
    auto env = test::E2eEnv(db.url());
    for (auto& [k, v] : extra) env[k] = v;
    process = std::make_unique<test::TicketdProcess>(std::vector<std::string>{}, env);
    port = process->WaitListening();
    REQUIRE(port != 0);
    // Ready (denylist loaded) before the test starts.
    REQUIRE(test::WaitReady(port));
  }
  test::HttpResponse Post(const std::string& path, const json::value& body, const std::string& token = "") {
    std::map<std::string, std::string> h;
    if (!token.empty()) h["Authorization"] = "Bearer " + token;
    return test::Request(port, http::verb::post, "/api/v1" + path, json::serialize(body), h);
  }
  test::HttpResponse Call(http::verb verb, const std::string& path, const std::string& token, const std::string& body = "") {
    std::map<std::string, std::string> h;
    if (!token.empty()) h["Authorization"] = "Bearer " + token;
    return test::Request(port, verb, "/api/v1" + path, body, h);
  }
  test::TempDatabase db;
  std::unique_ptr<test::TicketdProcess> process;
  std::uint16_t port = 0;
};

json::object Body(const test::HttpResponse& r) { return json::parse(r.body()).as_object(); }
std::string Code(const test::HttpResponse& r) {
  const auto b = Body(r);
  return b.contains("code") ? std::string(b.at("code").as_string()) : "";
}

json::array RequiredTerms() {
  return {json::object{{"type", "SERVICE"}, {"version", "2026-01"}}, json::object{{"type", "PRIVACY"}, {"version", "2026-01"}},
          json::object{{"type", "AGE"}, {"version", "2026-01"}}};
}

std::string Verify(Server& s, const std::string& name, const std::string& phone) {
  auto r = s.Post("/auth/identity-verifications", json::object{{"name", name}, {"phone", phone}, {"birthDate", "1990-01-02"}});
  REQUIRE(r.result_int() == 201);
  return std::string(Body(r).at("identityVerificationId").as_string());
}

json::object RegisterBody(const std::string& email, const std::string& iv, const std::string& password = "correct horse battery") {
  return {{"email", email},  {"password", password}, {"name", "Kim Minji"}, {"phone", "010-1234-5678"},
          {"termsAgreed", RequiredTerms()}, {"captchaToken", "test-pass"}, {"identityVerificationId", iv}};
}

test::HttpResponse Register(Server& s, const std::string& email, const std::string& person) {
  return s.Post("/auth/register", RegisterBody(email, Verify(s, person, "010-1234-5678")));
}

json::object Login(Server& s, const std::string& email, const std::string& password = "correct horse battery") {
  auto r = s.Post("/auth/login", json::object{{"email", email}, {"password", password}, {"captchaToken", "test-pass"}});
  REQUIRE_MESSAGE(r.result_int() == 200, r.body());
  return Body(r);
}

std::string B64Url(std::string_view in) {
  static constexpr char kA[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += {kA[(v >> 18) & 63], kA[(v >> 12) & 63], kA[(v >> 6) & 63], kA[v & 63]};
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += {kA[(v >> 18) & 63], kA[(v >> 12) & 63]};
  } else if (i + 2 == in.size()) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {kA[(v >> 18) & 63], kA[(v >> 12) & 63], kA[(v >> 6) & 63]};
  }
  return out;
}

// A token crafted outside ticketd, with our test secret unless told otherwise.
std::string Craft(const json::object& header, const json::object& claims, const std::string& key = kSecret) {
  const std::string input = B64Url(json::serialize(header)) + "." + B64Url(json::serialize(claims));
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(input.data()),
       input.size(), mac, &len);
  return input + "." + B64Url(std::string_view(reinterpret_cast<char*>(mac), len));
}

json::object Claims(const std::string& sub, std::int64_t iat_offset = 0, std::int64_t exp_offset = 3600) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  return {{"iss", "ticketd"}, {"aud", "ticketd-api"}, {"sub", sub},       {"role", "USER"},
          {"jti", "crafted-1"}, {"iat", now + iat_offset}, {"exp", now + exp_offset}};
}

}  // namespace

TEST_CASE("auth e2e: register, login, profile — no secrets in any response") {
  Server s;
  auto terms = s.Call(http::verb::get, "/terms", "");
  CHECK(terms.result_int() == 200);
  CHECK(Body(terms).at("items").as_array().size() == 4);

  auto r = Register(s, "Minji@Example.com", "Kim Minji");
  REQUIRE_MESSAGE(r.result_int() == 201, r.body());
  const auto user = Body(r);
  CHECK(user.at("email").as_string() == "minji@example.com");
  CHECK(user.at("role").as_string() == "USER");
  for (const char* secret : {"password", "passwordHash", "ci", "ciIndex", "di"}) CHECK_FALSE(user.contains(secret));
  CHECK(r.body().find("argon2") == std::string::npos);

  const auto tokens = Login(s, " MINJI@example.com ");
  CHECK(tokens.at("tokenType").as_string() == "Bearer");
  CHECK(tokens.at("expiresIn").as_int64() == 3600);
  const std::string access(tokens.at("accessToken").as_string());
  auto me = s.Call(http::verb::get, "/users/me", access);
  CHECK(me.result_int() == 200);
  CHECK(me[http::field::cache_control] == "no-store");
  CHECK(me.body().find("argon2") == std::string::npos);
  CHECK(Body(me).at("userId").as_string() == user.at("userId").as_string());

  auto patched = s.Call(http::verb::patch, "/users/me", access, R"({"name": "Kim Min-ji"})");
  CHECK(patched.result_int() == 200);
  CHECK(Body(patched).at("name").as_string() == "Kim Min-ji");
  // No mass assignment through the profile.
  auto sneaky = s.Call(http::verb::patch, "/users/me", access, R"({"role": "ADMIN", "email": "x@y.z"})");
  CHECK(sneaky.result_int() == 400);
  CHECK(Code(sneaky) == "VALIDATION_FAILED");
  CHECK(Body(sneaky).at("errors").as_array().size() == 2);
  CHECK(Body(s.Call(http::verb::get, "/users/me", access)).at("role").as_string() == "USER");
}

TEST_CASE("auth e2e: registration errors — duplicates, weak passwords, captcha, terms, bad bodies") {
  Server s;
  REQUIRE(Register(s, "first@example.com", "Lee Jiwoo").result_int() == 201);
  // Same email, another person.
  auto dup_email = Register(s, "FIRST@example.com", "Park Seoyeon");
  CHECK(dup_email.result_int() == 409);
  CHECK(Code(dup_email) == "EMAIL_TAKEN");
  // Same person (same verified identity data), another email.
  auto dup_person = Register(s, "second@example.com", "Lee Jiwoo");
  CHECK(dup_person.result_int() == 409);
  CHECK(Code(dup_person) == "IDENTITY_ALREADY_REGISTERED");

  auto weak = s.Post("/auth/register", RegisterBody("weak@example.com", Verify(s, "Choi A", "010-1111-2222"), "short"));
  CHECK(weak.result_int() == 422);
  CHECK(Code(weak) == "WEAK_PASSWORD");
  auto as_email = s.Post("/auth/register", RegisterBody("same@example.com", Verify(s, "Choi B", "010-1111-2223"), "Same@Example.com"));
  CHECK(as_email.result_int() == 422);
  CHECK(Code(as_email) == "WEAK_PASSWORD");
  auto too_long = s.Post("/auth/register", RegisterBody("long@example.com", Verify(s, "Choi C", "010-1111-2224"), std::string(200, 'a')));
  CHECK(too_long.result_int() == 400);
  // A 1 MB password is refused before the body is read, let alone hashed.
  const auto start = std::chrono::steady_clock::now();
  auto huge = s.Post("/auth/register", RegisterBody("huge@example.com", "iv_x", std::string(1 << 20, 'a')));
  CHECK(huge.result_int() == 413);
  CHECK(std::chrono::steady_clock::now() - start < 10s);  // not the seconds a 1 MB argon2 input would take

  auto captcha = RegisterBody("cap@example.com", Verify(s, "Choi D", "010-1111-2225"));
  captcha["captchaToken"] = "test-fail";
  auto cap = s.Post("/auth/register", captcha);
  CHECK(cap.result_int() == 400);
  CHECK(Code(cap) == "CAPTCHA_FAILED");

  auto no_terms = RegisterBody("terms@example.com", Verify(s, "Choi E", "010-1111-2226"));
  no_terms["termsAgreed"] = json::array{json::object{{"type", "SERVICE"}, {"version", "2026-01"}}};
  auto nt = s.Post("/auth/register", no_terms);
  CHECK(nt.result_int() == 422);
  CHECK(Code(nt) == "TERMS_REQUIRED");

  auto extra = RegisterBody("extra@example.com", Verify(s, "Choi F", "010-1111-2227"));
  extra["role"] = "ADMIN";
  auto ex = s.Post("/auth/register", extra);
  CHECK(ex.result_int() == 400);
  CHECK(Code(ex) == "VALIDATION_FAILED");
  CHECK(Body(ex).at("errors").as_array().at(0).at("field").as_string() == "role");

  auto malformed = test::Request(s.port, http::verb::post, "/api/v1/auth/register", "{\"email\": ");
  CHECK(malformed.result_int() == 400);
  CHECK(Code(malformed) == "MALFORMED_JSON");

  auto unverified = s.Post("/auth/register", RegisterBody("iv@example.com", "iv_does-not-exist"));
  CHECK(unverified.result_int() == 422);
  CHECK(Code(unverified) == "IDENTITY_VERIFICATION_FAILED");
}

TEST_CASE("auth e2e: login failures look alike — lockout after repeated failures") {
  Server s(std::map<std::string, std::string>{{"TICKETD_AUTH_LOCKOUT_THRESHOLD", "3"}});
  REQUIRE(Register(s, "lock@example.com", "Han Yuna").result_int() == 201);
  auto unknown = s.Post("/auth/login", json::object{{"email", "nobody@example.com"}, {"password", "whatever-123"}, {"captchaToken", "test-pass"}});
  auto wrong = s.Post("/auth/login", json::object{{"email", "lock@example.com"}, {"password", "wrong-password"}, {"captchaToken", "test-pass"}});
  CHECK(unknown.result_int() == 401);
  CHECK(wrong.result_int() == 401);
  CHECK(Code(unknown) == "INVALID_CREDENTIALS");
  CHECK(Code(wrong) == Code(unknown));
  CHECK(Body(unknown).at("detail") == Body(wrong).at("detail"));
  auto captcha = s.Post("/auth/login", json::object{{"email", "lock@example.com"}, {"password", "correct horse battery"}, {"captchaToken", "nope"}});
  CHECK(Code(captcha) == "CAPTCHA_FAILED");

  s.Post("/auth/login", json::object{{"email", "lock@example.com"}, {"password", "wrong-password"}, {"captchaToken", "test-pass"}});
  auto third = s.Post("/auth/login", json::object{{"email", "lock@example.com"}, {"password", "wrong-password"}, {"captchaToken", "test-pass"}});
  CHECK(third.result_int() == 423);
  CHECK(Code(third) == "ACCOUNT_LOCKED");
  CHECK_FALSE(third[http::field::retry_after].empty());
  // Even the right password is refused while locked.
  auto right = s.Post("/auth/login", json::object{{"email", "lock@example.com"}, {"password", "correct horse battery"}, {"captchaToken", "test-pass"}});
  CHECK(right.result_int() == 423);
}

TEST_CASE("auth e2e: forged, expired and misdirected access tokens are refused") {
  Server s;
  REQUIRE(Register(s, "jwt@example.com", "Jung Haneul").result_int() == 201);
  const auto tokens = Login(s, "jwt@example.com");
  const std::string access(tokens.at("accessToken").as_string());
  const std::string sub(Body(s.Call(http::verb::get, "/users/me", access)).at("userId").as_string());
  const json::object hs256{{"alg", "HS256"}, {"typ", "JWT"}, {"kid", "k1"}};

  // Our own crafted token with the right key is accepted: the checks below fail for their reason only.
  CHECK(s.Call(http::verb::get, "/users/me", Craft(hs256, Claims(sub))).result_int() == 200);

  const std::string unsigned_token = B64Url(R"({"alg":"none","typ":"JWT"})") + "." + B64Url(json::serialize(Claims(sub))) + ".";
  CHECK(s.Call(http::verb::get, "/users/me", unsigned_token).result_int() == 401);
  CHECK(s.Call(http::verb::get, "/users/me", Craft({{"alg", "HS512"}, {"typ", "JWT"}, {"kid", "k1"}}, Claims(sub))).result_int() == 401);
  CHECK(s.Call(http::verb::get, "/users/me", Craft({{"alg", "RS256"}, {"kid", "k1"}}, Claims(sub))).result_int() == 401);
  CHECK(s.Call(http::verb::get, "/users/me", Craft(hs256, Claims(sub), "another-secret-0123456789abcdef01234")).result_int() == 401);
  auto tampered = access;
  tampered[tampered.find('.') + 5] = tampered[tampered.find('.') + 5] == 'A' ? 'B' : 'A';
  CHECK(s.Call(http::verb::get, "/users/me", tampered).result_int() == 401);

  auto expired = s.Call(http::verb::get, "/users/me", Craft(hs256, Claims(sub, -7200, -3600)));
  CHECK(expired.result_int() == 401);
  CHECK(Code(expired) == "TOKEN_EXPIRED");
  CHECK(expired[http::field::www_authenticate].find("Bearer") == 0);
  CHECK(s.Call(http::verb::get, "/users/me", Craft(hs256, Claims(sub, 0, -5))).result_int() == 200);  // within the leeway

  auto wrong_iss = Claims(sub);
  wrong_iss["iss"] = "someone-else";
  CHECK(s.Call(http::verb::get, "/users/me", Craft(hs256, wrong_iss)).result_int() == 401);
  auto wrong_aud = Claims(sub);
  wrong_aud["aud"] = "another-api";
  CHECK(s.Call(http::verb::get, "/users/me", Craft(hs256, wrong_aud)).result_int() == 401);

  // A refresh token is not an access token; tokens are read from the header only.
  CHECK(s.Call(http::verb::get, "/users/me", std::string(tokens.at("refreshToken").as_string())).result_int() == 401);
  auto query = test::Request(s.port, http::verb::get, "/api/v1/users/me?access_token=" + access);
  CHECK(query.result_int() == 401);
  CHECK(Code(query) == "UNAUTHENTICATED");
  CHECK(test::Request(s.port, http::verb::get, "/api/v1/users/me", "", {{"Authorization", "Basic " + access}}).result_int() == 401);
}

TEST_CASE("auth e2e: refresh rotation — reuse revokes the family — concurrent refresh has one winner") {
  Server s;
  REQUIRE(Register(s, "rot@example.com", "Oh Sena").result_int() == 201);
  const auto first = Login(s, "rot@example.com");
  const std::string r1(first.at("refreshToken").as_string());
  auto second = s.Post("/auth/refresh", json::object{{"refreshToken", r1}});
  REQUIRE(second.result_int() == 200);
  const std::string r2(Body(second).at("refreshToken").as_string());
  const std::string a2(Body(second).at("accessToken").as_string());
  CHECK(r2 != r1);
  CHECK(s.Call(http::verb::get, "/users/me", a2).result_int() == 200);

  std::this_thread::sleep_for(2500ms);  // past the concurrent-duplicate grace
  auto reuse = s.Post("/auth/refresh", json::object{{"refreshToken", r1}});
  CHECK(reuse.result_int() == 401);
  CHECK(Code(reuse) == "REFRESH_TOKEN_REUSED");
  // The whole family is gone: R2 and its access token too.
  CHECK(s.Post("/auth/refresh", json::object{{"refreshToken", r2}}).result_int() == 401);
  CHECK(s.Call(http::verb::get, "/users/me", a2).result_int() == 401);

  // Ten refreshes racing with one token: exactly one wins.
  const std::string r(Login(s, "rot@example.com").at("refreshToken").as_string());
  std::vector<std::future<int>> racers;
  for (int i = 0; i < 10; ++i) {
    racers.push_back(std::async(std::launch::async, [&]() -> int { return static_cast<int>(s.Post("/auth/refresh", json::object{{"refreshToken", r}}).result_int()); }));
  }
  int ok = 0;
  int lost = 0;
  for (auto& f : racers) {
    const int status = f.get();
    ok += status == 200;
    // A racer within the grace gets 409; one that a slow machine started more
    // than the grace after the winner is a reuse (401) — a loss either way.
    lost += status == 409 || status == 401;
  }
  CHECK(ok == 1);
  CHECK(lost == 9);
}

TEST_CASE("auth e2e: logout, all sessions, password change and withdrawal end sessions") {
  Server s;
  REQUIRE(Register(s, "out@example.com", "Yoon Daeun").result_int() == 201);
  const auto a = Login(s, "out@example.com");
  const auto b = Login(s, "out@example.com");
  const std::string access_a(a.at("accessToken").as_string());
  const std::string access_b(b.at("accessToken").as_string());

  CHECK(s.Call(http::verb::post, "/auth/logout", access_a).result_int() == 204);
  CHECK(s.Call(http::verb::get, "/users/me", access_a).result_int() == 401);
  CHECK(s.Post("/auth/refresh", json::object{{"refreshToken", a.at("refreshToken")}}).result_int() == 401);
  CHECK(s.Call(http::verb::get, "/users/me", access_b).result_int() == 200);  // the other session lives

  const auto c = Login(s, "out@example.com");
  CHECK(s.Call(http::verb::post, "/auth/logout", std::string(c.at("accessToken").as_string()), R"({"allSessions": true})").result_int() == 204);
  CHECK(s.Call(http::verb::get, "/users/me", access_b).result_int() == 401);

  // Password change: other sessions end, the old password stops working.
  const auto d = Login(s, "out@example.com");
  const auto e = Login(s, "out@example.com");
  auto bad = s.Call(http::verb::put, "/users/me/password", std::string(d.at("accessToken").as_string()),
                    R"({"currentPassword": "not-it-at-all", "newPassword": "a new long password"})");
  CHECK(bad.result_int() == 422);
  CHECK(Code(bad) == "CURRENT_PASSWORD_INCORRECT");
  CHECK(s.Call(http::verb::put, "/users/me/password", std::string(d.at("accessToken").as_string()),
               R"({"currentPassword": "correct horse battery", "newPassword": "a new long password"})")
            .result_int() == 204);
  CHECK(s.Call(http::verb::get, "/users/me", std::string(d.at("accessToken").as_string())).result_int() == 200);
  CHECK(s.Call(http::verb::get, "/users/me", std::string(e.at("accessToken").as_string())).result_int() == 401);
  CHECK(s.Post("/auth/login", json::object{{"email", "out@example.com"}, {"password", "correct horse battery"}, {"captchaToken", "test-pass"}}).result_int() == 401);
  const auto f = Login(s, "out@example.com", "a new long password");

  // Withdrawal: the token dies at once, login fails, the person cannot come back yet; the email can.
  CHECK(s.Call(http::verb::delete_, "/users/me", std::string(f.at("accessToken").as_string())).result_int() == 204);
  CHECK(s.Call(http::verb::get, "/users/me", std::string(f.at("accessToken").as_string())).result_int() == 401);
  CHECK(s.Post("/auth/login", json::object{{"email", "out@example.com"}, {"password", "a new long password"}, {"captchaToken", "test-pass"}}).result_int() == 401);
  auto again = Register(s, "out2@example.com", "Yoon Daeun");
  CHECK(again.result_int() == 409);
  CHECK(Code(again) == "IDENTITY_ALREADY_REGISTERED");
  CHECK(Register(s, "out@example.com", "Someone Else").result_int() == 201);
}

TEST_CASE("auth e2e: a revocation made by one instance reaches another within the poll interval") {
  Server s;
  REQUIRE(Register(s, "multi@example.com", "Seo Jimin").result_int() == 201);
  // A second ticketd on the same database.
  test::TicketdProcess other({}, test::E2eEnv(s.db.url()));
  const auto port2 = other.WaitListening();
  REQUIRE(port2 != 0);
  REQUIRE(test::WaitReady(port2));
  const auto t = Login(s, "multi@example.com");
  const std::string access(t.at("accessToken").as_string());
  std::map<std::string, std::string> auth{{"Authorization", "Bearer " + access}};
  CHECK(test::Request(port2, http::verb::get, "/api/v1/users/me", "", auth).result_int() == 200);
  CHECK(s.Call(http::verb::post, "/auth/logout", access).result_int() == 204);
  int status = 200;
  // The poll interval is 1 s; 20 s of patience for a slow machine.
  for (int i = 0; i < 200 && status == 200; ++i) {
    std::this_thread::sleep_for(100ms);
    status = test::Request(port2, http::verb::get, "/api/v1/users/me", "", auth).result_int();
  }
  CHECK(status == 401);
}

TEST_CASE("auth e2e: admin bootstrap and seed commands") {
  test::TempDatabase db;
  auto env = test::E2eEnv(db.url());
  auto [rc, out] = test::RunCommand({TICKETD_BINARY, "migrate"}, env);
  REQUIRE_MESSAGE(rc == 0, out);
  std::tie(rc, out) = test::RunCommand({TICKETD_BINARY, "admin", "create-user", "--email", "ops@example.com", "--password",
                                        "operator-password-1", "--name", "Ops", "--role", "admin"},
                                       env);
  CHECK_MESSAGE(rc == 0, out);
  std::tie(rc, out) = test::RunCommand({TICKETD_BINARY, "admin", "create-user", "--email", "ops@example.com", "--password",
                                        "operator-password-1", "--name", "Ops", "--role", "admin"},
                                       env);
  CHECK(rc == 2);  // exists
  std::tie(rc, out) = test::RunCommand({TICKETD_BINARY, "seed"}, env);
  CHECK_MESSAGE(rc == 0, out);
  std::tie(rc, out) = test::RunCommand({TICKETD_BINARY, "seed"}, env);
  CHECK(rc == 0);  // idempotent

  test::TicketdProcess p({}, env);
  const auto port = p.WaitListening();
  REQUIRE(port != 0);
  REQUIRE(test::WaitReady(port));
  auto r = test::Request(port, http::verb::post, "/api/v1/auth/login",
                         R"({"email": "admin@ticketd.local", "password": "ticketd-admin-dev", "captchaToken": "test-pass"})");
  REQUIRE(r.result_int() == 200);
  const std::string admin_token(Body(r).at("accessToken").as_string());
  std::map<std::string, std::string> h{{"Authorization", "Bearer " + admin_token}};
  CHECK(Body(test::Request(port, http::verb::get, "/api/v1/users/me", "", h)).at("role").as_string() == "ADMIN");
  CHECK(test::Request(port, http::verb::post, "/api/v1/auth/login",
                      R"({"email": "user@ticketd.local", "password": "ticketd-user-dev", "captchaToken": "test-pass"})")
            .result_int() == 200);
}
