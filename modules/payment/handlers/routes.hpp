#pragma once

#include "payment/service.hpp"
#include "ticketd/core/router.hpp"

namespace ticketd::payment {

/// Registers the payment module's routes (API.md: Payments).
void AddRoutes(http::Router& router, PaymentService& service);

}  // namespace ticketd::payment
