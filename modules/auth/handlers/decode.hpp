#pragma once
// Request decoding of the auth routes: a Request in, the service's plain
// inputs out, or ApiError 400/415/422 naming the field. No I/O (the handlers
// stay thin; fuzz/route_body_fuzz.cpp drives every decoder directly).

#include <string>

#include "auth/inputs.hpp"
#include "ticketd/core/http.hpp"

namespace ticketd::auth {

RegisterInput DecodeRegister(const http::Request& r);
/// Name, phone and birth date, normalized (422 when one is not plausible).
PersonData DecodeIdentityVerification(const http::Request& r);
LoginInput DecodeLogin(const http::Request& r);
/// The refresh token of POST /auth/refresh.
std::string DecodeRefresh(const http::Request& r);
/// An empty body logs out the caller's session.
LogoutInput DecodeLogout(const http::Request& r);
ProfilePatch DecodeProfilePatch(const http::Request& r);
PasswordChange DecodePasswordChange(const http::Request& r);

}  // namespace ticketd::auth
