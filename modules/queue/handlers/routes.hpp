#pragma once

#include "queue/service.hpp"
#include "ticketd/core/router.hpp"

namespace ticketd::queue {

/// Registers the queue module's routes (API.md: Waiting room).
void AddRoutes(http::Router& router, QueueService& service);

}  // namespace ticketd::queue
