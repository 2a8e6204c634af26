// The edge input check (ticketd/core/input.hpp): what every handler may rely on.
#include <doctest/doctest.h>

#include <boost/json.hpp>

#include "ticketd/core/input.hpp"
#include "ticketd/core/router.hpp"

using namespace ticketd;
using namespace ticketd::http;

namespace {

Request Make(std::string target, std::string body = {}, std::string content_type = "application/json") {
  Request r;
  r.raw.method(Verb::post);
  r.raw.target(target);
  if (!body.empty()) {
    r.raw.set(beast_http::field::content_type, content_type);
    r.raw.body() = std::move(body);
  }
  return r;
}

// The 422 problem CheckInput throws, or nullopt when it accepts.
std::optional<Problem> Refusal(Request& r) {
  try {
    CheckInput(r);
    return std::nullopt;
  } catch (const ApiError& e) {
    return e.problem();
  }
}

bool Names(const Problem& p, std::string_view field) {
  for (const auto& e : p.errors) {
    if (e.field == field) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("input: strict UTF-8") {
  CHECK(IsValidUtf8(""));
  CHECK(IsValidUtf8("plain"));
  CHECK(IsValidUtf8("새해 콘서트 2027 🎵"));
  CHECK_FALSE(IsValidUtf8("\xff\xfe"));
  CHECK_FALSE(IsValidUtf8("\xc3\x28"));          // bad continuation
  CHECK_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  CHECK_FALSE(IsValidUtf8("\xe0\x80\xaf"));      // overlong
  CHECK_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate U+D800
  CHECK_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  CHECK_FALSE(IsValidUtf8("\xe2\x82"));          // truncated
  CHECK_FALSE(IsValidUtf8("Mozilla/4.0 (compatible; \xe9t\xe9)"));
}

TEST_CASE("input: text refuses NUL and control characters") {
  CHECK_FALSE(TextProblem("Venue", false));
  CHECK(TextProblem(std::string_view("Venue\0<tag>", 11), true) == "must not contain NUL characters");
  CHECK(TextProblem("a\x01" "b", true) == "must not contain control characters");
  CHECK(TextProblem("a\x7f", true) == "must not contain control characters");
  CHECK(TextProblem("a\xc2\x85", true) == "must not contain control characters");  // C1 NEL
  CHECK_FALSE(TextProblem("line\nbreak\ttab\r", true));
  CHECK(TextProblem("line\nbreak", false) == "must not contain control characters");
  CHECK(TextProblem("\xff", false) == "must be valid UTF-8");
}

TEST_CASE("input: sanitized header text is valid and cut on a character boundary") {
  CHECK(SanitizeText("Mozilla/4.0 (compatible; \xe9t\xe9)", 512) == "Mozilla/4.0 (compatible; \xEF\xBF\xBDt\xEF\xBF\xBD)");
  CHECK(SanitizeText("a\tb\x01", 512) == "a b ");
  // 511 ASCII bytes then a 3-byte character: the character does not fit and is dropped whole.
  const std::string ua = std::string(511, 'a') + "가나";
  const auto cut = SanitizeText(ua, 512);
  CHECK(cut == std::string(511, 'a'));
  CHECK(IsValidUtf8(cut));
  for (std::size_t max = 0; max < 20; ++max) {
    const auto t = TruncateUtf8("가나다라마바사", max);
    CHECK(t.size() <= max);
    CHECK(IsValidUtf8(t));
  }
}

TEST_CASE("input: invalid UTF-8 in a query value is refused with 422 naming the parameter") {
  for (const char* target : {"/api/v1/events?q=%ff%fe", "/api/v1/events?artist=%c3%28", "/x?q=a%00b", "/x?q=%0a"}) {
    CAPTURE(target);
    auto r = Make(target);
    const auto p = Refusal(r);
    REQUIRE(p);
    CHECK(p->status == 422);
    CHECK(p->code == "VALIDATION_FAILED");
    CHECK(p->errors.size() == 1);
  }
  auto r = Make("/api/v1/events?q=%ff%fe");
  CHECK(Names(*Refusal(r), "q"));
  auto ok = Make("/api/v1/events?q=%EC%83%88%ED%95%B4&status=ON_SALE&size=5");
  CHECK_FALSE(Refusal(ok));
}

TEST_CASE("input: a query key given twice, a malformed escape and a bad key are refused") {
  auto dup = Make("/api/v1/events?page=1&page=2");
  const auto p = Refusal(dup);
  REQUIRE(p);
  CHECK(Names(*p, "page"));
  auto bad = Make("/api/v1/events?q=%zz");
  CHECK(Names(*Refusal(bad), "q"));
  auto key = Make("/api/v1/events?%ff=1");
  const auto kp = Refusal(key);
  REQUIRE(kp);
  CHECK(kp->status == 422);
  // The field name echoed back is valid text itself.
  CHECK(IsValidUtf8(kp->errors.at(0).field));
}

TEST_CASE("input: path parameters must be text") {
  auto r = Make("/api/v1/events/x");
  r.path_params = {{"eventId", std::string("a\0b", 3)}};
  CHECK(Names(*Refusal(r), "eventId"));
  r.path_params = {{"eventId", "\xff"}};
  CHECK(Names(*Refusal(r), "eventId"));
}

TEST_CASE("input: \\u0000 anywhere in a JSON body is refused, naming the JSON path") {
  auto venue = Make("/api/v1/admin/venues", R"({"name":"Venue\u0000<tag>","address":"x"})");
  const auto p = Refusal(venue);
  REQUIRE(p);
  CHECK(p->status == 422);
  CHECK(Names(*p, "name"));
  auto nested = Make("/x", R"({"seats":[{"label":"ok"},{"label":"b\u0001d"}]})");
  CHECK(Names(*Refusal(nested), "seats[1].label"));
  auto key = Make("/x", R"({"na\u0000me":"x"})");
  CHECK(Refusal(key));
  auto fine = Make("/x", R"({"description":"two\nlines","n":-1,"ok":true,"list":[1,2]})");
  CHECK_FALSE(Refusal(fine));
  // Every non-empty body is a JSON object, whatever the route does with it.
  auto broken = Make("/x", R"({"name":"ab)");
  CHECK(Refusal(broken)->code == "MALFORMED_JSON");
  auto array = Make("/x", R"([1,2])");
  CHECK(Refusal(array)->code == "MALFORMED_JSON");
  auto raw_bytes = Make("/x", "{\"name\":\"\xff\"}");
  CHECK(Refusal(raw_bytes)->code == "MALFORMED_JSON");
  auto text = Make("/x", R"({"name":"x"})", "text/plain");
  CHECK(Refusal(text)->status == 415);
  auto charset = Make("/x", R"({"name":"x"})", "Application/JSON; charset=utf-8");
  CHECK_FALSE(Refusal(charset));
}

TEST_CASE("input: User-Agent is made valid and bounded, never refused") {
  auto r = Make("/api/v1/auth/login");
  r.raw.set(beast_http::field::user_agent, "Mozilla/4.0 (compatible; \xe9t\xe9)");
  CHECK_FALSE(Refusal(r));
  CHECK(IsValidUtf8(r.raw[beast_http::field::user_agent]));
  std::string long_ua;
  while (long_ua.size() < 600) long_ua += "브라우저";
  r.raw.set(beast_http::field::user_agent, long_ua);
  CHECK_FALSE(Refusal(r));
  const auto kept = r.raw[beast_http::field::user_agent];
  CHECK(kept.size() <= kMaxUserAgentBytes);
  CHECK(IsValidUtf8(kept));
  CHECK(long_ua.starts_with(kept));
}

TEST_CASE("router: HEAD is served by the GET route and listed in Allow") {
  Router router;
  Handler h = [](Request&) -> boost::asio::awaitable<Response> { co_return Empty(Status::ok); };
  router.Add(Verb::get, "/healthz", {}, h);
  router.Add(Verb::post, "/things", {}, h);
  const auto m = router.Match(Verb::head, "/healthz");
  REQUIRE(m.kind == RouteMatch::Kind::kFound);
  CHECK(m.route->method == Verb::get);
  const auto na = router.Match(Verb::delete_, "/healthz");
  REQUIRE(na.kind == RouteMatch::Kind::kMethodNotAllowed);
  CHECK((na.allowed == std::vector<Verb>{Verb::get, Verb::head}));
  // No GET, no HEAD.
  CHECK(router.Match(Verb::head, "/things").kind == RouteMatch::Kind::kMethodNotAllowed);
}

// Found by the query fuzzer: Request::Query treated an empty pair as key "".
TEST_CASE("input: Request::Query agrees with the edge's parse on empty pairs") {
  auto r = Make("/api/v1/events?&=e999&page=2");
  std::vector<FieldError> errors;
  const auto pairs = ParseQuery("&=e999&page=2", errors);
  REQUIRE(pairs.size() == 2);
  CHECK(r.Query("") == "e999");
  CHECK(r.Query("page") == "2");
}
