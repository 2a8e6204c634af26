#include <doctest/doctest.h>

#include <boost/json.hpp>

#include "ticketd/core/http.hpp"
#include "ticketd/core/ids.hpp"

using namespace ticketd;
using namespace ticketd::http;

TEST_CASE("problem: RFC 9457 shape with code, requestId, field errors, Retry-After") {
  auto p = problems::ValidationFailed("bad seats", {{"seatIds[1]", "unknown seat"}}, 422);
  auto res = ProblemResponse(p, "req-1");
  CHECK(res.result_int() == 422);
  CHECK(res[beast_http::field::content_type] == "application/problem+json");
  const auto body = boost::json::parse(res.body()).as_object();
  CHECK(body.at("type").as_string() == "https://ticketd.dev/problems/validation-failed");
  CHECK(body.at("title").as_string() == "Validation failed");
  CHECK(body.at("status").as_int64() == 422);
  CHECK(body.at("code").as_string() == "VALIDATION_FAILED");
  CHECK(body.at("requestId").as_string() == "req-1");
  CHECK(body.at("errors").as_array().at(0).at("field").as_string() == "seatIds[1]");

  auto unavailable = ProblemResponse(problems::ServiceUnavailable("db down", 3), "r");
  CHECK(unavailable.result_int() == 503);
  CHECK(unavailable[beast_http::field::retry_after] == "3");
  CHECK(boost::json::parse(unavailable.body()).at("code").as_string() == "SERVICE_UNAVAILABLE");
  CHECK(boost::json::parse(ProblemResponse(problems::Internal(), "r").body()).as_object().at("detail").as_string() ==
        "An unexpected error occurred");
}

TEST_CASE("request: JSON body parsing errors are problems") {
  Request r;
  r.raw.set(beast_http::field::content_type, "application/json; charset=utf-8");
  r.raw.body() = R"({"a": 1})";
  CHECK(r.JsonBody().at("a").as_int64() == 1);

  r.raw.body() = "{not json";
  try {
    (void)r.JsonBody();
    FAIL("expected MALFORMED_JSON");
  } catch (const ApiError& e) {
    CHECK(e.problem().code == "MALFORMED_JSON");
    CHECK(e.problem().status == 400);
  }
  r.raw.body() = "[1,2]";
  CHECK_THROWS_AS((void)r.JsonBody(), ApiError);
  r.raw.set(beast_http::field::content_type, "text/plain");
  r.raw.body() = "{}";
  try {
    (void)r.JsonBody();
    FAIL("expected 415");
  } catch (const ApiError& e) {
    CHECK(e.problem().status == 415);
  }
}

TEST_CASE("request: query parameters are decoded — path params by name") {
  Request r;
  r.raw.target("/api/v1/events?q=%EC%95%84%EC%9D%B4%EC%9C%A0+live&size=20&empty=");
  CHECK(r.Query("q").value() == "\xEC\x95\x84\xEC\x9D\xB4\xEC\x9C\xA0 live");
  CHECK(r.Query("size").value() == "20");
  CHECK(r.Query("empty").value().empty());
  CHECK_FALSE(r.Query("missing").has_value());
  r.raw.target("/x?bad=%G1");
  CHECK_THROWS_AS((void)r.Query("bad"), ApiError);
  r.path_params = {{"eventId", "e1"}};
  CHECK(r.Param("eventId") == "e1");
  CHECK_THROWS_AS((void)r.Param("nope"), std::out_of_range);
}

TEST_CASE("ids: UUIDv4 format and uniqueness") {
  const auto a = NewUuid();
  const auto b = NewUuid();
  CHECK(IsUuid(a));
  CHECK(a != b);
  CHECK(a[14] == '4');
  CHECK_FALSE(IsUuid("not-a-uuid"));
  CHECK_FALSE(IsUuid("123e4567-e89b-12d3-a456-42661417400g"));
  CHECK(IsUuid("123E4567-E89B-12D3-A456-426614174000"));
}
