#pragma once
// Request decoding of the reservation routes: a Request in, plain inputs out,
// or ApiError 400/403/415/422 naming the field. No I/O (the handlers stay
// thin; fuzz/route_body_fuzz.cpp drives every decoder directly).

#include <optional>
#include <string>
#include <vector>

#include "ticketd/core/http.hpp"

namespace ticketd::reservation {

/// POST /reservations/hold: event and seats (lower-cased UUIDs, 1..max_seats,
/// distinct), the Idempotency-Key and the qr_ token from X-Queue-Token.
struct HoldRequest {
  std::string event_id;
  std::vector<std::string> seat_ids;
  std::string idempotency_key;
  std::string queue_token;
};

/// GET /reservations: status filter and paging.
struct ListQuery {
  std::optional<std::string> status;
  int page = 1;
  int size = 20;
};

HoldRequest DecodeHold(const http::Request& r, int max_seats);
/// PUT /reservations/hold/{id}: the new seats.
std::vector<std::string> DecodeSeatChange(const http::Request& r, int max_seats);
ListQuery DecodeListQuery(const http::Request& r);
/// POST /reservations/{id}/cancel: an empty or `{}` body, an optional Idempotency-Key.
std::string DecodeCancel(const http::Request& r);
/// The Idempotency-Key header: 1-255 printable ASCII ("" when absent and not required).
std::string DecodeIdempotencyKey(const http::Request& r, bool required);

}  // namespace ticketd::reservation
