// HTTP handlers of the catalog module: parse → call CatalogService → answer.
#include "catalog/handlers/routes.hpp"

#include "catalog/handlers/decode.hpp"

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

void RequireId(const Request& r, const char* param, const char* what) {
  if (!IsUuid(r.Param(param))) throw ApiError(problems::NotFound(std::string(what) + " not found"));
}

events::Metadata MetaOf(const Request& r) {
  return {r.request_id, r.request_id, r.principal ? r.principal->user_id : std::string()};
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
    auto query = DecodeEventQuery(r);
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
    auto in = DecodeVenue(r);
    auto body = co_await service.CreateVenue(std::move(in));
    auto res = http::Json(Status::created, body);
    res.set(bh::field::location, "/api/v1/venues/" + std::string(body.at("venueId").as_string()));
    co_return res;
  });
  router.Add(Verb::put, "/api/v1/admin/venues/{venueId}", admin, [&service](Request& r) -> Awaitable {
    RequireId(r, "venueId", "Venue");
    auto in = DecodeVenue(r);
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
    auto in = DecodeHall(r);
    auto vid = r.Param("venueId");
    auto body = co_await service.CreateHall(std::move(vid), std::move(in));
    co_return http::Json(Status::created, body);
  });
  router.Add(Verb::put, "/api/v1/admin/venues/{venueId}/halls/{hallId}", admin_hall, [&service](Request& r) -> Awaitable {
    RequireId(r, "venueId", "Venue");
    RequireId(r, "hallId", "Hall");
    auto in = DecodeHall(r);
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
    auto in = DecodeEvent(r, true);
    auto meta = MetaOf(r);
    auto body = co_await service.CreateEvent(std::move(in), std::move(meta));
    auto res = http::Json(Status::created, body);
    res.set(bh::field::location, "/api/v1/events/" + std::string(body.at("eventId").as_string()));
    co_return res;
  });
  router.Add(Verb::put, "/api/v1/admin/events/{eventId}", admin, [&service](Request& r) -> Awaitable {
    RequireId(r, "eventId", "Event");
    auto in = DecodeEvent(r, false);
    auto id = r.Param("eventId");
    auto body = co_await service.UpdateEvent(std::move(id), std::move(in));
    co_return http::Json(Status::ok, body);
  });
  router.Add(Verb::post, "/api/v1/admin/events/{eventId}/cancel", admin, [&service](Request& r) -> Awaitable {
    RequireId(r, "eventId", "Event");
    auto reason = DecodeCancelReason(r);
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
