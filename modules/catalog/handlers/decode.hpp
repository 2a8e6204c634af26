#pragma once
// Request decoding of the catalog routes: a Request (body, query) in, the
// service's plain inputs out, or ApiError 400/415/422 naming the field. No I/O,
// so the HTTP handlers stay thin and fuzz/route_body_fuzz.cpp can drive every
// decoder directly.

#include <string>

#include "catalog/inputs.hpp"
#include "ticketd/core/http.hpp"

namespace ticketd::catalog {

inline constexpr int kMaxPageSize = 100;
inline constexpr std::size_t kMaxReason = 1000;

/// POST /admin/events (`create`: every field required) or PUT (the fields present).
EventInput DecodeEvent(const http::Request& r, bool create);
/// POST/PUT /admin/venues.
VenueInput DecodeVenue(const http::Request& r);
/// POST/PUT /admin/venues/{venueId}/halls: name and seat template.
HallInput DecodeHall(const http::Request& r);
/// GET /events: paging, filters and sort.
EventQuery DecodeEventQuery(const http::Request& r);
/// POST /admin/events/{id}/cancel: the optional `{"reason"}` body.
std::string DecodeCancelReason(const http::Request& r);

}  // namespace ticketd::catalog
