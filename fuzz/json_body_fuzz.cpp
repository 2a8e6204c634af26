// A JSON request body as every route receives it: the edge's input check,
// then the strict field reader (JsonFields) every handler decodes with, each
// accessor on every field. Invariants: only ApiError 4xx escapes, and a body
// the edge accepts has only valid text in it.
#include <boost/json.hpp>

#include "fuzz_util.hpp"
#include "ticketd/core/input.hpp"
#include "ticketd/core/http.hpp"
#include "ticketd/core/json_fields.hpp"

using namespace ticketd;

namespace {

void AllText(const boost::json::value& v) {
  if (v.is_string() && http::TextProblem(v.get_string(), true)) fuzz::Fail("accepted body has bad text");
  if (v.is_array()) {
    for (const auto& e : v.get_array()) AllText(e);
  }
  if (v.is_object()) {
    for (const auto& kv : v.get_object()) {
      if (http::TextProblem(kv.key(), false)) fuzz::Fail("accepted body has a bad key");
      AllText(kv.value());
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  http::Request r;
  r.raw.method(http::Verb::post);
  r.raw.target("/api/v1/admin/events");
  r.raw.set(http::beast_http::field::content_type, "application/json");
  r.raw.body().assign(fuzz::AsText(data, size));
  try {
    http::CheckInput(r);
  } catch (const ApiError& e) {
    if (e.problem().status < 400 || e.problem().status > 499) fuzz::Fail("edge refusal is not 4xx");
    return 0;
  }
  if (r.raw.body().empty()) return 0;
  boost::json::object body;
  try {
    body = r.JsonBody();
  } catch (const ApiError&) {
    fuzz::Fail("edge accepted a body JsonBody refuses");
  }
  AllText(body);
  std::vector<std::string> names;
  for (const auto& kv : body) names.emplace_back(kv.key());
  JsonFields f(body, {"title", "artist", "venueId", "prices", "seatIds", "allSessions", "limit"});
  for (const auto& n : names) {
    (void)f.OptionalString(n, 200);
    (void)f.OptionalInt(n);
    (void)f.OptionalBool(n);
    (void)f.OptionalArray(n, 10);
  }
  (void)f.String("title");
  (void)f.Int("limit");
  (void)f.Array("seatIds");
  try {
    f.Finish();
  } catch (const ApiError& e) {
    if (e.problem().status != 400) fuzz::Fail("field errors are not 400");
  }
  return 0;
}
