// A request target: the router's path match and percent-decoding, the edge's
// query check, Request::Query and QueryInt. Invariants: refusals are 4xx; an
// accepted target has only valid text in its parameters, and Query() returns
// what the edge parsed.
#include "fuzz_util.hpp"
#include "ticketd/core/input.hpp"
#include "ticketd/core/query_params.hpp"
#include "ticketd/core/router.hpp"

using namespace ticketd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const http::Router router = [] {
    http::Router r;
    http::Handler h = [](http::Request&) -> boost::asio::awaitable<http::Response> { co_return http::Empty(http::Status::ok); };
    r.Add(http::Verb::get, "/api/v1/events", {}, h);
    r.Add(http::Verb::get, "/api/v1/events/{eventId}", {}, h);
    r.Add(http::Verb::get, "/api/v1/events/{eventId}/seats", {}, h);
    r.Add(http::Verb::put, "/api/v1/admin/venues/{venueId}/halls/{hallId}", {}, h);
    r.Add(http::Verb::get, "/api/v1/reservations", {}, h);
    return r;
  }();
  const std::string target(fuzz::AsText(data, size));
  http::Request r;
  r.raw.method(http::Verb::get);
  r.raw.target(target);
  const std::string_view t = r.raw.target();
  auto m = router.Match(http::Verb::get, t.substr(0, t.find('?')));
  r.path_params = std::move(m.params);
  (void)router.Match(http::Verb::head, t.substr(0, t.find('?')));
  try {
    http::CheckInput(r);
  } catch (const ApiError& e) {
    if (e.problem().status != 422) fuzz::Fail("query refusal is not 422");
    for (const auto& f : e.problem().errors) {
      if (!http::IsValidUtf8(f.field)) fuzz::Fail("field name echoed is not UTF-8");
    }
    return 0;
  }
  for (const auto& [name, value] : r.path_params) {
    if (http::TextProblem(value, false)) fuzz::Fail("accepted bad path text");
  }
  if (const auto q = t.find('?'); q != std::string_view::npos) {
    std::vector<FieldError> errors;
    for (const auto& [key, value] : http::ParseQuery(t.substr(q + 1), errors)) {
      if (http::TextProblem(key, false) || http::TextProblem(value, false)) fuzz::Fail("accepted bad query text");
      if (r.Query(key) != value) fuzz::Fail("Query() disagrees");
    }
  }
  std::vector<FieldError> errors;
  (void)http::QueryInt(r, "page", 1, 1, 1000000, errors);
  (void)http::QueryInt(r, "size", 20, 1, 100, errors);
  return 0;
}
