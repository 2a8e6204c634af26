#pragma once

#include "reservation/service.hpp"
#include "ticketd/core/router.hpp"

namespace ticketd::reservation {

/// Registers the reservation module's routes (API.md: Reservations).
void AddRoutes(http::Router& router, ReservationService& service, int max_seats_per_request);

}  // namespace ticketd::reservation
