#pragma once

#include "auth/service.hpp"
#include "ticketd/core/router.hpp"

namespace ticketd::auth {

/// Registers the auth module's routes (API.md: Auth and users).
void AddRoutes(http::Router& router, AuthService& service);

}  // namespace ticketd::auth
