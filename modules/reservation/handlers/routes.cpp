// HTTP handlers of the reservation module: parse → call ReservationService → answer.
#include "reservation/handlers/routes.hpp"

#include <boost/json.hpp>

#include "reservation/handlers/decode.hpp"
#include "ticketd/core/ids.hpp"

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

const std::string& UserOf(const Request& r) {
  if (!r.principal) throw ApiError(problems::Unauthenticated());
  return r.principal->user_id;
}

void RequireId(const Request& r) {
  if (!IsUuid(r.Param("reservationId"))) throw ApiError(problems::NotFound("Reservation not found"));
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
    auto hold = DecodeHold(r, max_seats);
    in.event_id = std::move(hold.event_id);
    in.seat_ids = std::move(hold.seat_ids);
    in.idempotency_key = std::move(hold.idempotency_key);
    in.queue_token = std::move(hold.queue_token);
    const auto answer = co_await service.Hold(std::move(in));
    co_return FromAnswer(answer);
  });

  router.Add(Verb::put, "/api/v1/reservations/hold/{reservationId}", booking, [&service, max_seats](Request& r) -> Awaitable {
    RequireId(r);
    auto seats = DecodeSeatChange(r, max_seats);
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
    auto query = DecodeListQuery(r);
    std::string user_id = UserOf(r);
    const auto result = co_await service.List(std::move(user_id), std::move(query.status), query.page, query.size);
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
    std::string key = DecodeCancel(r);
    std::string user_id = UserOf(r);
    std::string id = r.Param("reservationId");
    std::string request_id = r.request_id;
    const auto answer = co_await service.Cancel(std::move(user_id), std::move(id), std::move(request_id), std::move(key));
    co_return FromAnswer(answer);
  });
}

}  // namespace ticketd::reservation
