// Access tokens (modules/auth/jwt.cpp): Verify any bytes without crashing,
// never accept a token not signed with our key, and Sign → Verify round-trips
// claims built from the input.
#include "auth/jwt.hpp"
#include "fuzz_util.hpp"

using namespace ticketd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auth::JwtSigner ours({"k1", std::string(40, 'k')}, {{"k0", std::string(32, 'o')}}, "ticketd", "ticketd-api");
  constexpr std::int64_t kNow = 1700000000;
  const auto text = fuzz::AsText(data, size);
  const auto verified = ours.Verify(text, kNow);
  if (verified) {
    // Only a token whose signature checks under one of our keys may pass.
    if (!auth::VerifyHs256Compact(text, std::string(40, 'k')) && !auth::VerifyHs256Compact(text, std::string(32, 'o'))) {
      fuzz::Fail("accepted a token not signed with our keys");
    }
  }
  // Round trip: claims from the input.
  const auto nl = text.find('\n');
  if (nl == std::string_view::npos) return 0;
  auth::AccessClaims claims;
  claims.subject = std::string(text.substr(0, nl));
  claims.role = "USER";
  claims.jti = std::string(text.substr(nl + 1, 40));
  claims.issued_at = kNow;
  claims.expires_at = kNow + 600;
  std::string token;
  try {
    token = ours.Sign(claims);
  } catch (const std::invalid_argument&) {
    return 0;  // empty subject or jti
  }
  const auto back = ours.Verify(token, kNow);
  if (!back || back->subject != claims.subject || back->jti != claims.jti) fuzz::Fail("Sign/Verify round trip");
  return 0;
}
