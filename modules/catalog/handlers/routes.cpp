// HTTP handlers of the catalog module: parse → call CatalogService → answer.
#include "catalog/handlers/routes.hpp"

#include <boost/json.hpp>

#include <set>

#include "ticketd/core/ids.hpp"
#include "ticketd/core/json_fields.hpp"
#include "ticketd/core/query_params.hpp"
#include "ticketd/core/time.hpp"

namespace ticketd::catalog {

namespace json = boost::json;
namespace bh = boost::beast::http;
using http::AuthLevel;
using http::Request;
using http::Response;
using http::Status;
using http::Verb;
using Awaitable = boost::asio::awaitable<Response>;

namespace {

constexpr std::size_t kAdminBodyLimit = 64 * 1024;
// A 100,000-seat template written row by row stays far below this.
constexpr std::size_t kHallBodyLimit = 4 * 1024 * 1024;
constexpr int kMaxPageSize = 100;
constexpr const char* kStatuses[] = {"UPCOMING", "ON_SALE", "SALE_ENDED", "ENDED", "CANCELLED"};

[[noreturn]] void Unprocessable(std::vector<FieldError> errors) {
  std::string detail = errors.size() == 1 ? errors.front().field + ": " + errors.front().message
                                          : std::to_string(errors.size()) + " fields are invalid";
  throw ApiError(problems::ValidationFailed(std::move(detail), std::move(errors), 422));
}

void RequireId(const Request& r, const char* param, const char* what) {
  if (!IsUuid(r.Param(param))) throw ApiError(problems::NotFound(std::string(what) + " not found"));
}

events::Metadata MetaOf(const Request& r) {
  return {r.request_id, r.request_id, r.principal ? r.principal->user_id : std::string()};
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
  q.max_active = num("maxActive", 1, 1000000);
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

EventInput ParseEvent(const Request& r, bool create) {
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

VenueInput ParseVenue(const Request& r) {
  JsonFields f(r.JsonBody(), {"name", "address"});
  VenueInput in;
  in.name = f.String("name", 200);
  in.address = f.OptionalString("address", 500).value_or("");
  f.Finish();
  if (in.name.find_first_not_of(" \t") == std::string::npos) Unprocessable({{"name", "must not be blank"}});
  return in;
}

HallInput ParseHall(const Request& r) {
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

EventQuery ParseQuery(const Request& r) {
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

// True when If-None-Match names `etag` (weak comparison) or is `*`.
bool Matches(std::string_view header, std::string_view etag) {
  const auto strip = [](std::string_view t) {
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    if (t.starts_with("W/")) t.remove_prefix(2);
    return t;
  };
  const auto mine = strip(etag);
  std::size_t start = 0;
  while (start <= header.size()) {
    const auto end = std::min(header.find(',', start), header.size());
    const auto one = strip(header.substr(start, end - start));
    if (one == "*" || one == mine) return true;
    start = end + 1;
  }
  return false;
}

bool AcceptsGzip(const Request& r) {
  const auto v = r.Header("Accept-Encoding");
  if (!v) return false;
  // "gzip" listed and not refused with q=0.
  std::string_view s = *v;
  std::size_t start = 0;
  while (start <= s.size()) {
    const auto end = std::min(s.find(',', start), s.size());
    auto one = s.substr(start, end - start);
    while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
    if (one.starts_with("gzip") || one.starts_with("*")) {
      const auto q = one.find("q=");
      if (q == std::string_view::npos) return true;
      auto qv = one.substr(q + 2);
      return !(qv.starts_with("0") && (qv.size() == 1 || qv.find_first_not_of("0.", 0) == std::string_view::npos));
    }
    start = end + 1;
  }
  return false;
}

}  // namespace

void AddRoutes(http::Router& router, CatalogService& service) {
  const http::RouteMeta read{AuthLevel::kPublic, "read", std::size_t{0}};
  const http::RouteMeta user_read{AuthLevel::kUser, "read", std::size_t{0}};
  const http::RouteMeta admin{AuthLevel::kAdmin, "default", kAdminBodyLimit};
  const http::RouteMeta admin_hall{AuthLevel::kAdmin, "default", kHallBodyLimit};

  // ---- public reads
  router.Add(Verb::get, "/api/v1/events", read, [&service](Request& r) -> Awaitable {
    auto query = ParseQuery(r);
    auto body = co_await service.ListEvents(std::move(query));
    co_return http::Json(Status::ok, body);
  });
  router.Add(Verb::get, "/api/v1/events/{eventId}", read, [&service](Request& r) -> Awaitable {
    RequireId(r, "eventId", "Event");
    auto id = r.Param("eventId");
    auto body = co_await service.GetEvent(std::move(id));
    co_return http::Json(Status::ok, body);
  });
  router.Add(Verb::get, "/api/v1/events/{eventId}/seats", user_read, [&service](Request& r) -> Awaitable {
    RequireId(r, "eventId", "Event");
    auto id = r.Param("eventId");
    const auto map = co_await service.SeatMap(std::move(id));
    if (!map) throw ApiError(problems::NotFound("Event not found"));
    Response res;
    res.version(11);
    res.set(bh::field::etag, map->etag);
    res.set(bh::field::cache_control, "private, no-cache");
    res.set(bh::field::vary, "Accept-Encoding");
    const auto inm = r.Header("If-None-Match");
    if (inm && Matches(*inm, map->etag)) {
      res.result(Status::not_modified);
      co_return res;
    }
    res.result(Status::ok);
    res.set(bh::field::content_type, "application/json");
    if (AcceptsGzip(r)) {
      res.set(bh::field::content_encoding, "gzip");
      res.body() = map->Gzipped();
    } else {
      res.body() = map->body;
    }
    res.prepare_payload();
    co_return res;
  });
  router.Add(Verb::get, "/api/v1/venues", read, [&service](Request& r) -> Awaitable {
    std::vector<FieldError> errors;
    const int page = http::QueryInt(r, "page", 1, 1, 1000000, errors);
    const int size = http::QueryInt(r, "size", 20, 1, kMaxPageSize, errors);
    if (!errors.empty()) throw ApiError(problems::ValidationFailed("Invalid query parameters", std::move(errors)));
    auto body = co_await service.ListVenues(page, size);
    co_return http::Json(Status::ok, body);
  });
  router.Add(Verb::get, "/api/v1/venues/{venueId}", read, [&service](Request& r) -> Awaitable {
    RequireId(r, "venueId", "Venue");
    auto id = r.Param("venueId");
    auto body = co_await service.GetVenue(std::move(id));
    co_return http::Json(Status::ok, body);
  });

  // ---- admin: venues and halls
  router.Add(Verb::post, "/api/v1/admin/venues", admin, [&service](Request& r) -> Awaitable {
    auto in = ParseVenue(r);
    auto body = co_await service.CreateVenue(std::move(in));
    auto res = http::Json(Status::created, body);
    res.set(bh::field::location, "/api/v1/venues/" + std::string(body.at("venueId").as_string()));
    co_return res;
  });
  router.Add(Verb::put, "/api/v1/admin/venues/{venueId}", admin, [&service](Request& r) -> Awaitable {
    RequireId(r, "venueId", "Venue");
    auto in = ParseVenue(r);
    auto id = r.Param("venueId");
    auto body = co_await service.UpdateVenue(std::move(id), std::move(in));
    co_return http::Json(Status::ok, body);
  });
  router.Add(Verb::delete_, "/api/v1/admin/venues/{venueId}", admin, [&service](Request& r) -> Awaitable {
    RequireId(r, "venueId", "Venue");
    auto id = r.Param("venueId");
    co_await service.DeleteVenue(std::move(id));
    co_return http::Empty(Status::no_content);
  });
  router.Add(Verb::get, "/api/v1/admin/venues/{venueId}/halls/{hallId}", admin, [&service](Request& r) -> Awaitable {
    RequireId(r, "venueId", "Venue");
    RequireId(r, "hallId", "Hall");
    auto vid = r.Param("venueId");
    auto hid = r.Param("hallId");
    auto body = co_await service.GetHall(std::move(vid), std::move(hid));
    co_return http::Json(Status::ok, body);
  });
  router.Add(Verb::post, "/api/v1/admin/venues/{venueId}/halls", admin_hall, [&service](Request& r) -> Awaitable {
    RequireId(r, "venueId", "Venue");
    auto in = ParseHall(r);
    auto vid = r.Param("venueId");
    auto body = co_await service.CreateHall(std::move(vid), std::move(in));
    co_return http::Json(Status::created, body);
  });
  router.Add(Verb::put, "/api/v1/admin/venues/{venueId}/halls/{hallId}", admin_hall, [&service](Request& r) -> Awaitable {
    RequireId(r, "venueId", "Venue");
    RequireId(r, "hallId", "Hall");
    auto in = ParseHall(r);
    auto vid = r.Param("venueId");
    auto hid = r.Param("hallId");
    auto body = co_await service.UpdateHall(std::move(vid), std::move(hid), std::move(in));
    co_return http::Json(Status::ok, body);
  });
  router.Add(Verb::delete_, "/api/v1/admin/venues/{venueId}/halls/{hallId}", admin, [&service](Request& r) -> Awaitable {
    RequireId(r, "venueId", "Venue");
    RequireId(r, "hallId", "Hall");
    auto vid = r.Param("venueId");
    auto hid = r.Param("hallId");
    co_await service.DeleteHall(std::move(vid), std::move(hid));
    co_return http::Empty(Status::no_content);
  });

  // ---- admin: events
  router.Add(Verb::post, "/api/v1/admin/events", admin, [&service](Request& r) -> Awaitable {
    auto in = ParseEvent(r, true);
    auto meta = MetaOf(r);
    auto body = co_await service.CreateEvent(std::move(in), std::move(meta));
    auto res = http::Json(Status::created, body);
    res.set(bh::field::location, "/api/v1/events/" + std::string(body.at("eventId").as_string()));
    co_return res;
  });
  router.Add(Verb::put, "/api/v1/admin/events/{eventId}", admin, [&service](Request& r) -> Awaitable {
    RequireId(r, "eventId", "Event");
    auto in = ParseEvent(r, false);
    auto id = r.Param("eventId");
    auto body = co_await service.UpdateEvent(std::move(id), std::move(in));
    co_return http::Json(Status::ok, body);
  });
  router.Add(Verb::post, "/api/v1/admin/events/{eventId}/cancel", admin, [&service](Request& r) -> Awaitable {
    RequireId(r, "eventId", "Event");
    std::string reason;
    if (!r.raw.body().empty()) {
      JsonFields f(r.JsonBody(), {"reason"});
      reason = f.OptionalString("reason", 1000).value_or("");
      f.Finish();
    }
    auto id = r.Param("eventId");
    auto meta = MetaOf(r);
    auto body = co_await service.CancelEvent(std::move(id), std::move(reason), std::move(meta));
    co_return http::Json(Status::ok, body);
  });
  router.Add(Verb::delete_, "/api/v1/admin/events/{eventId}", admin, [&service](Request& r) -> Awaitable {
    RequireId(r, "eventId", "Event");
    auto id = r.Param("eventId");
    co_await service.DeleteEvent(std::move(id));
    co_return http::Empty(Status::no_content);
  });
}

}  // namespace ticketd::catalog
