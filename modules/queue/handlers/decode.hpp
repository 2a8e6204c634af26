#pragma once
// Request decoding of the queue routes: a Request in, plain inputs out, or
// ApiError 400/415/422 naming the field. No I/O (fuzz/route_body_fuzz.cpp
// drives every decoder directly).

#include <string>

#include "queue/inputs.hpp"
#include "ticketd/core/http.hpp"

namespace ticketd::queue {

/// The {eventId} path parameter: a UUID (422 otherwise), lower-cased.
std::string DecodeEventId(const http::Request& r);
/// PUT /admin/queue/{eventId}.
SettingsPatch DecodeSettingsPatch(const http::Request& r);

}  // namespace ticketd::queue
