#pragma once
// Edge middleware: what the seeds call the API gateway, inside ticketd.

#include "ticketd/auth/auth.hpp"
#include "ticketd/core/http.hpp"

namespace ticketd::app {

/// Enforces each route's auth level: user/admin routes need
/// `Authorization: Bearer <access token>` (missing or invalid → 401
/// UNAUTHENTICATED, expired → 401 TOKEN_EXPIRED, both with WWW-Authenticate);
/// admin routes with a USER token → 403 FORBIDDEN. Tokens are read from the
/// header only (never the query string). Authenticated responses get
/// `Cache-Control: no-store`.
http::Middleware AuthMiddleware(const auth::TokenVerifier& verifier);

}  // namespace ticketd::app
