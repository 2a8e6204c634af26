#include <doctest/doctest.h>

#include "ticketd/core/router.hpp"

using namespace ticketd::http;

namespace {
Handler Noop() {
  return [](Request&) -> boost::asio::awaitable<Response> { co_return Empty(Status::no_content); };
}
}  // namespace

TEST_CASE("router: literal and parameter routes, params decoded") {
  Router r;
  r.Add(Verb::get, "/api/v1/events", {}, Noop());
  r.Add(Verb::get, "/api/v1/events/{eventId}", {AuthLevel::kPublic, "read", std::nullopt}, Noop());
  r.Add(Verb::get, "/api/v1/events/{eventId}/seats", {AuthLevel::kUser, "read", std::nullopt}, Noop());
  r.Add(Verb::post, "/api/v1/admin/events/{eventId}/cancel", {AuthLevel::kAdmin, "default", 1024}, Noop());

  auto m = r.Match(Verb::get, "/api/v1/events/abc%20d");
  REQUIRE(m.kind == RouteMatch::Kind::kFound);
  CHECK(m.route->path == "/api/v1/events/{eventId}");
  REQUIRE(m.params.size() == 1);
  CHECK(m.params[0].first == "eventId");
  CHECK(m.params[0].second == "abc d");

  m = r.Match(Verb::get, "/api/v1/events/e1/seats");
  REQUIRE(m.kind == RouteMatch::Kind::kFound);
  CHECK(m.route->meta.auth == AuthLevel::kUser);

  m = r.Match(Verb::post, "/api/v1/admin/events/e1/cancel");
  REQUIRE(m.kind == RouteMatch::Kind::kFound);
  CHECK(m.route->meta.body_limit == 1024U);

  CHECK(r.Match(Verb::get, "/api/v1/events").kind == RouteMatch::Kind::kFound);
  CHECK(r.Match(Verb::get, "/api/v1/nothing").kind == RouteMatch::Kind::kNotFound);
  CHECK(r.Match(Verb::get, "/api/v1/events/e1/seats/x").kind == RouteMatch::Kind::kNotFound);
  CHECK(r.Match(Verb::get, "/api/v1/events//seats").kind == RouteMatch::Kind::kNotFound);
}

TEST_CASE("router: 405 lists the methods of the path") {
  Router r;
  r.Add(Verb::get, "/api/v1/users/me", {}, Noop());
  r.Add(Verb::patch, "/api/v1/users/me", {}, Noop());
  r.Add(Verb::delete_, "/api/v1/users/me", {}, Noop());
  const auto m = r.Match(Verb::post, "/api/v1/users/me");
  REQUIRE(m.kind == RouteMatch::Kind::kMethodNotAllowed);
  CHECK(m.allowed.size() == 4);  // GET, HEAD (served by GET), PATCH, DELETE
}

TEST_CASE("router: literal beats parameter for the same method") {
  Router r;
  r.Add(Verb::get, "/api/v1/reservations/{reservationId}", {}, Noop());
  r.Add(Verb::get, "/api/v1/reservations/hold", {AuthLevel::kUser, "booking", std::nullopt}, Noop());
  const auto m = r.Match(Verb::get, "/api/v1/reservations/hold");
  REQUIRE(m.kind == RouteMatch::Kind::kFound);
  CHECK(m.route->path == "/api/v1/reservations/hold");
  CHECK(r.Match(Verb::get, "/api/v1/reservations/r1").route->path == "/api/v1/reservations/{reservationId}");
}

TEST_CASE("router: a parameter route serves a method the literal route lacks") {
  Router r;
  r.Add(Verb::get, "/a/{x}", {}, Noop());
  r.Add(Verb::post, "/a/b", {}, Noop());
  CHECK(r.Match(Verb::get, "/a/b").kind == RouteMatch::Kind::kFound);
  CHECK(r.Match(Verb::delete_, "/a/b").kind == RouteMatch::Kind::kMethodNotAllowed);
}

TEST_CASE("router: rejects malformed, duplicate and ambiguous templates") {
  Router r;
  r.Add(Verb::get, "/a/{id}", {}, Noop());
  CHECK_THROWS_AS(r.Add(Verb::get, "/a/{id}", {}, Noop()), std::invalid_argument);
  CHECK_THROWS_AS(r.Add(Verb::post, "/a/{other}", {}, Noop()), std::invalid_argument);
  CHECK_THROWS_AS(r.Add(Verb::get, "no-slash", {}, Noop()), std::invalid_argument);
  CHECK_THROWS_AS(r.Add(Verb::get, "/a/x{y}", {}, Noop()), std::invalid_argument);
  CHECK_THROWS_AS(r.Add(Verb::get, "/a//b", {}, Noop()), std::invalid_argument);
  CHECK_NOTHROW(r.Add(Verb::post, "/a/{id}", {}, Noop()));
}

TEST_CASE("router: malformed percent-encoding in a parameter does not match") {
  Router r;
  r.Add(Verb::get, "/a/{id}", {}, Noop());
  CHECK(r.Match(Verb::get, "/a/%zz").kind == RouteMatch::Kind::kNotFound);
  CHECK(r.Match(Verb::get, "/a/%4").kind == RouteMatch::Kind::kNotFound);
  std::string out;
  CHECK(PercentDecode("a%2Fb+c", out, true));
  CHECK(out == "a/b c");
}
