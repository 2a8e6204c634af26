// Request decoding of the reservation routes (decode.hpp).
#include "reservation/handlers/decode.hpp"

#include <boost/json.hpp>

#include <cctype>
#include <set>

#include "ticketd/core/ids.hpp"
#include "ticketd/core/json_fields.hpp"
#include "ticketd/core/query_params.hpp"

namespace ticketd::reservation {

namespace json = boost::json;
using http::Request;

namespace {

[[noreturn]] void Unprocessable(const std::string& code, std::string field, std::string message) {
  auto p = problems::ValidationFailed(field + ": " + message, {{field, message}}, 422);
  if (code != "VALIDATION_FAILED") {
    p.code = code;
    p.title = "Seat limit exceeded";
  }
  throw ApiError(std::move(p));
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

}  // namespace

std::string DecodeIdempotencyKey(const Request& r, bool required) {
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

HoldRequest DecodeHold(const Request& r, int max_seats) {
  HoldRequest in;
  auto body = r.JsonBody();
  JsonFields f(body, {"eventId", "seatIds"});
  in.event_id = f.String("eventId", 64);
  in.seat_ids = SeatIds(f, body, max_seats);
  f.Finish();
  if (!IsUuid(in.event_id)) Unprocessable("VALIDATION_FAILED", "eventId", "no such event");
  for (auto& c : in.event_id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  in.idempotency_key = DecodeIdempotencyKey(r, true);
  const auto token = r.Header("X-Queue-Token");
  if (!token || token->empty()) {
    throw ApiError(problems::Make(403, "QUEUE_TOKEN_INVALID", "Queue token invalid",
                                  "X-Queue-Token (the qr_ token from the waiting room) is required"));
  }
  in.queue_token = std::string(*token);
  return in;
}

std::vector<std::string> DecodeSeatChange(const Request& r, int max_seats) {
  auto body = r.JsonBody();
  JsonFields f(body, {"seatIds"});
  auto seats = SeatIds(f, body, max_seats);
  f.Finish();
  return seats;
}

ListQuery DecodeListQuery(const Request& r) {
  ListQuery q;
  q.status = r.Query("status");
  if (q.status && *q.status != "PENDING" && *q.status != "CONFIRMED" && *q.status != "CANCELLED" && *q.status != "EXPIRED") {
    throw ApiError(problems::ValidationFailed("Invalid query parameters",
                                              {{"status", "must be PENDING, CONFIRMED, CANCELLED or EXPIRED"}}));
  }
  q.page = http::QueryInt(r, "page", 1, 1, 1000000);
  q.size = http::QueryInt(r, "size", 20, 1, 100);
  return q;
}

std::string DecodeCancel(const Request& r) {
  if (!r.raw.body().empty()) {
    JsonFields f(r.JsonBody(), {});
    f.Finish();
  }
  return DecodeIdempotencyKey(r, false);
}

}  // namespace ticketd::reservation
