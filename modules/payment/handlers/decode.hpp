#pragma once
// Request decoding of the payment routes: a Request in, plain inputs out, or
// ApiError 400/403/415/422 naming the field. No I/O (the handlers stay thin;
// fuzz/route_body_fuzz.cpp drives every decoder directly).

#include <string>

#include "ticketd/core/http.hpp"

namespace ticketd::payment {

/// POST /payments: the reservation, the client's paymentKey (both UUIDs,
/// lower-cased) and the hold's qp_ token from X-Queue-Token.
struct StartPayment {
  std::string reservation_id;
  std::string payment_key;
  std::string payment_token;
};

StartPayment DecodeStartPayment(const http::Request& r);
/// A body that must be empty or `{}` (confirm).
void DecodeNoFields(const http::Request& r);
/// POST /admin/payments/{id}/refund: the optional `{"reason"}`.
std::string DecodeRefundReason(const http::Request& r);

}  // namespace ticketd::payment
