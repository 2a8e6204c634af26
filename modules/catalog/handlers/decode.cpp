// Request decoding of the catalog routes (decode.hpp).
#include "catalog/handlers/decode.hpp"

#include <boost/json.hpp>

#include <set>

#include "ticketd/core/ids.hpp"
#include "ticketd/core/json_fields.hpp"
#include "ticketd/core/query_params.hpp"
#include "ticketd/core/time.hpp"

namespace ticketd::catalog {

namespace json = boost::json;
using http::Request;

namespace {

constexpr const char* kStatuses[] = {"UPCOMING", "ON_SALE", "SALE_ENDED", "ENDED", "CANCELLED"};

[[noreturn]] void Unprocessable(std::vector<FieldError> errors) {
  std::string detail = errors.size() == 1 ? errors.front().field + ": " + errors.front().message
                                          : std::to_string(errors.size()) + " fields are invalid";
  throw ApiError(problems::ValidationFailed(std::move(detail), std::move(errors), 422));
}

std::optional<TimePoint> TimeField(JsonFields& f, const json::object& body, const char* name, bool required) {
  const auto* v = body.if_contains(name);
  if (v == nullptr) {
    if (required) f.Fail(name, "is required");
    return std::nullopt;
  }
  if (!v->is_string()) {
    f.Fail(name, "must be an RFC 3339 date-time with offset");
    return std::nullopt;
  }
  auto t = ParseRfc3339(std::string(v->as_string()));
  if (!t) f.Fail(name, "must be an RFC 3339 date-time with offset, e.g. 2026-12-24T19:00:00+09:00");
  return t;
}

std::optional<std::vector<std::pair<std::string, std::int64_t>>> PricesField(const json::object& body, bool required,
                                                                              JsonFields& f,
                                                                              std::vector<FieldError>& semantic) {
  const auto* v = body.if_contains("prices");
  if (v == nullptr) {
    if (required) f.Fail("prices", "is required");
    return std::nullopt;
  }
  const auto* o = v->if_object();
  if (o == nullptr || o->empty() || o->size() > 50) {
    f.Fail("prices", "must be an object of 1-50 grade → price (integer KRW)");
    return std::nullopt;
  }
  std::vector<std::pair<std::string, std::int64_t>> out;
  for (const auto& kv : *o) {
    const std::string grade(kv.key());
    const std::string field = "prices." + grade;
    if (!IsValidGradeName(grade)) {
      semantic.push_back({field, "unknown grade name"});
      continue;
    }
    if (!kv.value().is_int64() && !kv.value().is_uint64()) {
      f.Fail(field, "must be an integer amount in KRW");
      continue;
    }
    const std::int64_t price = kv.value().is_int64() ? kv.value().as_int64() : -1;
    if (price < 0 || price > 100'000'000) {
      semantic.push_back({field, "must be between 0 and 100,000,000 KRW"});
      continue;
    }
    out.emplace_back(grade, price);
  }
  return out;
}

std::optional<QueueSettings> QueueField(const json::object& body, std::vector<FieldError>& semantic, JsonFields& f) {
  const auto* v = body.if_contains("queue");
  if (v == nullptr || v->is_null()) return std::nullopt;
  const auto* o = v->if_object();
  if (o == nullptr) {
    f.Fail("queue", "must be an object");
    return std::nullopt;
  }
  QueueSettings q;
  const auto num = [&](const char* k, int lo, int hi) -> std::optional<int> {
    const auto* x = o->if_contains(k);
    if (x == nullptr) return std::nullopt;
    if (!x->is_int64() || x->as_int64() < lo || x->as_int64() > hi) {
      semantic.push_back({std::string("queue.") + k, "must be an integer " + std::to_string(lo) + "-" + std::to_string(hi)});
      return std::nullopt;
    }
    return static_cast<int>(x->as_int64());
  };
  for (const auto& kv : *o) {
    const auto k = kv.key();
    if (k != "admissionRatePerSecond" && k != "maxActive" && k != "capacity" && k != "method" && k != "preQueueMinutes") {
      f.Fail("queue." + std::string(k), "unknown field");
    }
  }
  q.admission_rate_per_second = num("admissionRatePerSecond", 1, 100000);
  q.max_active = num("maxActive", 1, kMaxActiveLimit);
  q.capacity = num("capacity", 1, 10000000);
  q.pre_queue_minutes = num("preQueueMinutes", 0, 1440);
  if (const auto* m = o->if_contains("method"); m != nullptr) {
    if (!m->is_string() || (m->as_string() != "fifo" && m->as_string() != "random")) {
      semantic.push_back({"queue.method", "must be \"fifo\" or \"random\""});
    } else {
      q.method = std::string(m->as_string());
    }
  }
  return q;
}

bool IsHttpUrl(const std::string& s) {
  if (!(s.starts_with("https://") || s.starts_with("http://")) || s.size() > 2000) return false;
  for (const unsigned char c : s) {
    if (c <= 0x20 || c == 0x7f || c == '"' || c == '<' || c == '>') return false;
  }
  return true;
}

}  // namespace

EventInput DecodeEvent(const Request& r, bool create) {
  auto body = r.JsonBody();
  JsonFields f(body, {"venueId", "hallId", "title", "artist", "description", "posterUrl", "startsAt", "endsAt",
                      "saleStartsAt", "saleEndsAt", "prices", "queue"});
  std::vector<FieldError> semantic;
  EventInput in;
  const auto text = [&](const char* name, std::size_t max, bool required) -> std::optional<std::string> {
    if (required) return f.String(name, max);
    return f.OptionalString(name, max);
  };
  in.venue_id = text("venueId", 64, create);
  in.hall_id = text("hallId", 64, create);
  in.title = text("title", 200, create);
  in.artist = text("artist", 200, create);
  in.description = f.OptionalString("description", 10000);
  in.poster_url = f.OptionalString("posterUrl", 2000);
  in.starts_at = TimeField(f, body, "startsAt", create);
  in.ends_at = TimeField(f, body, "endsAt", create);
  in.sale_starts_at = TimeField(f, body, "saleStartsAt", create);
  in.sale_ends_at = TimeField(f, body, "saleEndsAt", create);
  in.prices = PricesField(body, create, f, semantic);
  in.queue = QueueField(body, semantic, f);
  f.Finish();
  if (in.title && in.title->find_first_not_of(" \t") == std::string::npos) semantic.push_back({"title", "must not be blank"});
  if (in.artist && in.artist->find_first_not_of(" \t") == std::string::npos) semantic.push_back({"artist", "must not be blank"});
  if (in.poster_url && !in.poster_url->empty() && !IsHttpUrl(*in.poster_url)) {
    semantic.push_back({"posterUrl", "must be an http(s) URL"});
  }
  if (in.starts_at && in.ends_at && !(*in.starts_at < *in.ends_at)) semantic.push_back({"endsAt", "must be after startsAt"});
  if (in.sale_starts_at && in.sale_ends_at && !(*in.sale_starts_at < *in.sale_ends_at)) {
    semantic.push_back({"saleEndsAt", "must be after saleStartsAt"});
  }
  if (in.sale_ends_at && in.starts_at && *in.sale_ends_at > *in.starts_at) {
    semantic.push_back({"saleEndsAt", "the sale must end by the start of the show"});
  }
  if (create && in.ends_at && *in.ends_at <= std::chrono::system_clock::now()) {
    semantic.push_back({"endsAt", "must be in the future"});
  }
  if (!semantic.empty()) Unprocessable(std::move(semantic));
  return in;
}

VenueInput DecodeVenue(const Request& r) {
  JsonFields f(r.JsonBody(), {"name", "address"});
  VenueInput in;
  in.name = f.String("name", 200);
  in.address = f.OptionalString("address", 500).value_or("");
  f.Finish();
  if (in.name.find_first_not_of(" \t") == std::string::npos) Unprocessable({{"name", "must not be blank"}});
  return in;
}

HallInput DecodeHall(const Request& r) {
  auto body = r.JsonBody();
  JsonFields f(body, {"name", "seatTemplate"});
  HallInput in;
  in.name = f.String("name", 200);
  if (!body.contains("seatTemplate")) f.Fail("seatTemplate", "is required");
  f.Finish();
  if (in.name.find_first_not_of(" \t") == std::string::npos) Unprocessable({{"name", "must not be blank"}});
  std::vector<FieldError> errors;
  in.seat_template = ParseSeatTemplate(body.at("seatTemplate"), "seatTemplate", errors);
  if (errors.size() > 50) errors.resize(50);
  if (!errors.empty()) Unprocessable(std::move(errors));
  return in;
}

EventQuery DecodeEventQuery(const Request& r) {
  std::vector<FieldError> errors;
  EventQuery q;
  q.page = http::QueryInt(r, "page", 1, 1, 1000000, errors);
  q.size = http::QueryInt(r, "size", 20, 1, kMaxPageSize, errors);
  if (const auto s = r.Query("status")) {
    std::size_t start = 0;
    while (start <= s->size()) {
      const auto end = std::min(s->find(',', start), s->size());
      const std::string one = s->substr(start, end - start);
      bool known = false;
      for (const char* k : kStatuses) known = known || one == k;
      if (!known) {
        errors.push_back({"status", "must be UPCOMING, ON_SALE, SALE_ENDED, ENDED or CANCELLED (comma-separated)"});
        break;
      }
      q.statuses.push_back(one);
      start = end + 1;
    }
  }
  for (const char* name : {"from", "to"}) {
    if (const auto v = r.Query(name)) {
      const auto t = ParseRfc3339(*v);
      if (!t) {
        errors.push_back({name, "must be an RFC 3339 date-time with offset"});
      } else {
        (std::string_view(name) == "from" ? q.from : q.to) = t;
      }
    }
  }
  if (const auto v = r.Query("venueId")) {
    if (!IsUuid(*v)) {
      errors.push_back({"venueId", "must be a UUID"});
    } else {
      q.venue_id = *v;
    }
  }
  if (const auto v = r.Query("artist"); v && !v->empty()) {
    if (v->size() > 200) errors.push_back({"artist", "at most 200 bytes"});
    q.artist = *v;
  }
  if (const auto v = r.Query("q"); v && !v->empty()) {
    if (v->size() > 200) errors.push_back({"q", "at most 200 bytes"});
    q.q = *v;
  }
  if (const auto v = r.Query("sort")) {
    static const std::set<std::string> kSorts = {"startsAt", "-startsAt", "saleStartsAt", "-saleStartsAt", "title",
                                                 "-title", "createdAt", "-createdAt", "relevance"};
    if (!kSorts.contains(*v)) {
      errors.push_back({"sort", "must be one of [-]startsAt, [-]saleStartsAt, [-]title, [-]createdAt, relevance"});
    } else if (*v == "relevance" && !q.q) {
      errors.push_back({"sort", "relevance needs q"});
    } else {
      q.sort = *v;
    }
  }
  if (q.from && q.to && !(*q.from < *q.to)) errors.push_back({"to", "must be after from"});
  if (!errors.empty()) throw ApiError(problems::ValidationFailed("Invalid query parameters", std::move(errors)));
  return q;
}

std::string DecodeCancelReason(const Request& r) {
  if (r.raw.body().empty()) return {};
  JsonFields f(r.JsonBody(), {"reason"});
  auto reason = f.OptionalString("reason", kMaxReason).value_or("");
  f.Finish();
  return reason;
}

}  // namespace ticketd::catalog
