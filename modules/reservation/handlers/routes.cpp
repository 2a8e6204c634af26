// HTTP handlers of the reservation module: parse → call ReservationService → answer.
#include "reservation/handlers/routes.hpp"

#include <boost/json.hpp>

#include <set>

#include "ticketd/core/ids.hpp"
#include "ticketd/core/json_fields.hpp"
#include "ticketd/core/query_params.hpp"

namespace ticketd::reservation {

namespace json = boost::json;
namespace bh = boost::beast::http;
using http::AuthLevel;
using http::Request;
using http::Response;
using http::Status;
using http::Verb;
using Awaitable = boost::asio::awaitable<Response>;

namespace {

constexpr std::size_t kBodyLimit = 8 * 1024;

[[noreturn]] void Unprocessable(const std::string& code, std::string field, std::string message) {
  auto p = problems::ValidationFailed(field + ": " + message, {{field, message}}, 422);
  if (code != "VALIDATION_FAILED") {
    p.code = code;
    p.title = "Seat limit exceeded";
  }
  throw ApiError(std::move(p));
}

const std::string& UserOf(const Request& r) {
  if (!r.principal) throw ApiError(problems::Unauthenticated());
  return r.principal->user_id;
}

void RequireId(const Request& r) {
  if (!IsUuid(r.Param("reservationId"))) throw ApiError(problems::NotFound("Reservation not found"));
}

std::string IdempotencyKey(const Request& r, bool required) {
  const auto v = r.Header("Idempotency-Key");
  if (!v) {
    if (required) {
      throw ApiError(problems::ValidationFailed("The Idempotency-Key header is required (a new UUID per attempt)",
                                                {{"Idempotency-Key", "is required"}}));
    }
    return {};
  }
  if (v->empty() || v->size() > 255) {
    throw ApiError(problems::ValidationFailed("Idempotency-Key must be 1-255 characters", {{"Idempotency-Key", "1-255 characters"}}));
  }
  for (const unsigned char c : *v) {
    if (c < 0x21 || c > 0x7e) {
      throw ApiError(problems::ValidationFailed("Idempotency-Key must be printable ASCII", {{"Idempotency-Key", "printable ASCII"}}));
    }
  }
  return std::string(*v);
}

// seatIds: 1..max distinct UUIDs; every problem names its index.
std::vector<std::string> SeatIds(JsonFields& f, const json::object& body, int max) {
  std::vector<std::string> out;
  const auto* v = body.if_contains("seatIds");
  if (v == nullptr || !v->is_array()) {
    f.Fail("seatIds", "must be an array of seat ids");
    return out;
  }
  const auto& arr = v->as_array();
  if (arr.empty()) Unprocessable("VALIDATION_FAILED", "seatIds", "choose at least one seat");
  if (static_cast<int>(arr.size()) > max) {
    Unprocessable("SEAT_LIMIT_EXCEEDED", "seatIds", "at most " + std::to_string(max) + " seats per reservation");
  }
  std::set<std::string> seen;
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const std::string field = "seatIds[" + std::to_string(i) + "]";
    if (!arr[i].is_string() || !IsUuid(arr[i].as_string())) Unprocessable("VALIDATION_FAILED", field, "not a seat of this event");
    std::string id(arr[i].as_string());
    for (auto& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!seen.insert(id).second) Unprocessable("VALIDATION_FAILED", field, "duplicate seat");
    out.push_back(std::move(id));
  }
  return out;
}

Response FromAnswer(const Answer& a) {
  Response res;
  res.version(11);
  res.result(static_cast<unsigned>(a.status));
  res.set(bh::field::content_type, a.status >= 400 ? "application/problem+json" : "application/json");
  if (!a.location.empty() && a.status == 201) res.set(bh::field::location, a.location);
  res.body() = a.body;
  res.prepare_payload();
  return res;
}

}  // namespace

void AddRoutes(http::Router& router, ReservationService& service, int max_seats) {
  const http::RouteMeta booking{AuthLevel::kUser, "booking", kBodyLimit};
  const http::RouteMeta user{AuthLevel::kUser, "default", kBodyLimit};

  router.Add(Verb::post, "/api/v1/reservations/hold", booking, [&service, max_seats](Request& r) -> Awaitable {
    HoldInput in;
    in.user_id = UserOf(r);
    in.request_id = r.request_id;
    auto body = r.JsonBody();
    JsonFields f(body, {"eventId", "seatIds"});
    in.event_id = f.String("eventId", 64);
    in.seat_ids = SeatIds(f, body, max_seats);
    f.Finish();
    if (!IsUuid(in.event_id)) Unprocessable("VALIDATION_FAILED", "eventId", "no such event");
    for (auto& c : in.event_id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    in.idempotency_key = IdempotencyKey(r, true);
    const auto token = r.Header("X-Queue-Token");
    if (!token || token->empty()) {
      throw ApiError(problems::Make(403, "QUEUE_TOKEN_INVALID", "Queue token invalid",
                                    "X-Queue-Token (the qr_ token from the waiting room) is required"));
    }
    in.queue_token = std::string(*token);
    const auto answer = co_await service.Hold(std::move(in));
    co_return FromAnswer(answer);
  });

  router.Add(Verb::put, "/api/v1/reservations/hold/{reservationId}", booking, [&service, max_seats](Request& r) -> Awaitable {
    RequireId(r);
    auto body = r.JsonBody();
    JsonFields f(body, {"seatIds"});
    auto seats = SeatIds(f, body, max_seats);
    f.Finish();
    std::string user_id = UserOf(r);
    std::string id = r.Param("reservationId");
    const auto result = co_await service.ChangeSeats(std::move(user_id), std::move(id), std::move(seats));
    co_return http::Json(Status::ok, result);
  });

  router.Add(Verb::delete_, "/api/v1/reservations/hold/{reservationId}", booking, [&service](Request& r) -> Awaitable {
    RequireId(r);
    std::string user_id = UserOf(r);
    std::string id = r.Param("reservationId");
    co_await service.Release(std::move(user_id), std::move(id));
    co_return http::Empty(Status::no_content);
  });

  router.Add(Verb::get, "/api/v1/reservations", user, [&service](Request& r) -> Awaitable {
    std::optional<std::string> status = r.Query("status");
    if (status && *status != "PENDING" && *status != "CONFIRMED" && *status != "CANCELLED" && *status != "EXPIRED") {
      throw ApiError(problems::ValidationFailed("Invalid query parameters",
                                                {{"status", "must be PENDING, CONFIRMED, CANCELLED or EXPIRED"}}));
    }
    const int page = http::QueryInt(r, "page", 1, 1, 1000000);
    const int size = http::QueryInt(r, "size", 20, 1, 100);
    std::string user_id = UserOf(r);
    const auto result = co_await service.List(std::move(user_id), std::move(status), page, size);
    co_return http::Json(Status::ok, result);
  });

  router.Add(Verb::get, "/api/v1/reservations/{reservationId}", user, [&service](Request& r) -> Awaitable {
    RequireId(r);
    std::string user_id = UserOf(r);
    std::string id = r.Param("reservationId");
    const auto result = co_await service.Get(std::move(user_id), std::move(id));
    co_return http::Json(Status::ok, result);
  });

  router.Add(Verb::post, "/api/v1/reservations/{reservationId}/cancel", booking, [&service](Request& r) -> Awaitable {
    RequireId(r);
    if (!r.raw.body().empty()) {
      JsonFields f(r.JsonBody(), {});
      f.Finish();
    }
    std::string user_id = UserOf(r);
    std::string id = r.Param("reservationId");
    std::string request_id = r.request_id;
    std::string key = IdempotencyKey(r, false);
    const auto answer = co_await service.Cancel(std::move(user_id), std::move(id), std::move(request_id), std::move(key));
    co_return FromAnswer(answer);
  });
}

}  // namespace ticketd::reservation
