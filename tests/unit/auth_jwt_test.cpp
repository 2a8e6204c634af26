#include "auth/jwt.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "auth/crypto.hpp"

namespace {

namespace json = boost::json;
using ticketd::auth::AccessClaims;
using ticketd::auth::Base64UrlDecode;
using ticketd::auth::Base64UrlEncode;
using ticketd::auth::HmacSha256;
using ticketd::auth::JwtError;
using ticketd::auth::JwtKey;
using ticketd::auth::JwtSigner;
using ticketd::auth::VerifyHs256Compact;

constexpr std::int64_t kNow = 1'700'000'000;
const std::string kSecret = "0123456789abcdef0123456789abcdef";         // 32 bytes
const std::string kOldSecret = "fedcba9876543210fedcba9876543210-old";  // 36 bytes

JwtSigner MakeSigner(std::string issuer = "ticketd", std::string audience = "ticketd-api") {
  return JwtSigner(JwtKey{"k1", kSecret}, {}, std::move(issuer), std::move(audience));
}

AccessClaims Claims(std::int64_t iat = kNow, std::int64_t exp = kNow + 3600) {
  return AccessClaims{.subject = "user-1", .role = "USER", .jti = "jti-1", .issued_at = iat, .expires_at = exp};
}

json::object Header(std::string_view alg = "HS256", std::string_view kid = "k1") {
  return json::object{{"alg", alg}, {"typ", "JWT"}, {"kid", kid}};
}

json::object Payload() {
  return json::object{{"iss", "ticketd"}, {"sub", "user-1"}, {"aud", "ticketd-api"}, {"role", "USER"},
                      {"jti", "jti-1"},   {"iat", kNow},     {"exp", kNow + 3600}};
}

// A token with arbitrary header and payload, HMAC-SHA256-signed with `secret`
// through the independent OpenSSL HMAC() path.
std::string Forge(const json::object& header, const json::object& payload, const std::string& secret = kSecret) {
  const std::string input = Base64UrlEncode(json::serialize(header)) + "." + Base64UrlEncode(json::serialize(payload));
  return input + "." + Base64UrlEncode(HmacSha256(secret, input));
}

std::optional<JwtError> ErrorOf(const JwtSigner& signer, std::string_view token, std::int64_t now = kNow) {
  const auto result = signer.Verify(token, now);
  if (result) return std::nullopt;
  return result.error();
}

std::string Part(const std::string& token, int index) {
  std::size_t start = 0;
  for (int i = 0; i < index; ++i) start = token.find('.', start) + 1;
  const std::size_t end = token.find('.', start);
  return token.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

}  // namespace

namespace doctest {
template <>
struct StringMaker<std::optional<JwtError>> {
  static String convert(const std::optional<JwtError>& error) {
    return error ? String(std::string(ToString(*error)).c_str()) : String("ok");
  }
};
}  // namespace doctest

TEST_CASE("auth jwt: sign and verify round trip") {
  const JwtSigner signer = MakeSigner();
  const std::string token = signer.Sign(Claims());
  CHECK(json::parse(*Base64UrlDecode(Part(token, 0))) == json::parse(R"({"alg":"HS256","typ":"JWT","kid":"k1"})"));

  const auto verified = signer.Verify(token, kNow);
  REQUIRE(verified.has_value());
  CHECK(verified->issuer == "ticketd");
  CHECK(verified->audience == "ticketd-api");
  CHECK(verified->subject == "user-1");
  CHECK(verified->role == "USER");
  CHECK(verified->jti == "jti-1");
  CHECK(verified->issued_at == kNow);
  CHECK(verified->expires_at == kNow + 3600);

  // The signature equals an independent HMAC-SHA256 over header.payload.
  const std::string input = Part(token, 0) + "." + Part(token, 1);
  CHECK(Part(token, 2) == Base64UrlEncode(HmacSha256(kSecret, input)));

  // Strings that need JSON escaping survive.
  AccessClaims odd = Claims();
  odd.subject = "quote\" back\\slash \xed\x95\x9c";
  odd.issuer = "ticketd";
  odd.audience = "ticketd-api";
  const auto odd_verified = signer.Verify(signer.Sign(odd), kNow);
  REQUIRE(odd_verified.has_value());
  CHECK(odd_verified->subject == odd.subject);
}

TEST_CASE("auth jwt: fast base64url decoder agrees with the strict libsodium one") {
  std::array<unsigned char, 64> out{};
  const auto agree = [&](std::string_view text) {
    const std::optional<std::string> expected = Base64UrlDecode(text);
    const std::optional<std::size_t> size = ticketd::auth::detail::DecodeBase64Url(text, out);
    CAPTURE(text);
    REQUIRE(expected.has_value() == size.has_value());
    if (expected) CHECK(std::string_view(reinterpret_cast<const char*>(out.data()), *size) == *expected);
  };
  // Every string of up to two bytes, then random strings over a mostly-valid alphabet.
  agree("");
  for (int a = 0; a < 256; ++a) {
    const char first = static_cast<char>(a);
    agree(std::string_view(&first, 1));
    for (int b = 0; b < 256; ++b) {
      const std::array<char, 2> pair{first, static_cast<char>(b)};
      agree(std::string_view(pair.data(), pair.size()));
    }
  }
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_AQgw=+/.";
  for (int i = 0; i < 20000; ++i) {
    const std::string random = ticketd::auth::RandomBytes(1 + static_cast<std::size_t>(i % 11) * 2);
    std::string text;
    for (std::size_t j = 1; j < random.size(); j += 2) {
      const bool odd = static_cast<unsigned char>(random[j - 1]) < 8;  // ~3 %: an arbitrary byte
      text.push_back(odd ? random[j] : alphabet[static_cast<unsigned char>(random[j]) % alphabet.size()]);
    }
    agree(text);
  }
  for (std::size_t n = 0; n < 40; ++n) agree(Base64UrlEncode(ticketd::auth::RandomBytes(n)));
  // Too small an output buffer is refused, not overrun.
  std::array<unsigned char, 2> small{};
  CHECK_FALSE(ticketd::auth::detail::DecodeBase64Url("Zm9v", small).has_value());
  CHECK(ticketd::auth::detail::DecodeBase64Url("Zm8", small) == std::optional<std::size_t>(2));
}

TEST_CASE("auth jwt: RFC 7515 appendix A.1 HS256 vector") {
  const std::string token =
      "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
      "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
      "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  const std::optional<std::string> key =
      Base64UrlDecode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow");
  REQUIRE(key.has_value());
  REQUIRE(key->size() == 64);
  CHECK(VerifyHs256Compact(token, *key));

  // One changed character anywhere breaks it.
  for (const std::size_t pos : {std::size_t{5}, token.find('.') + 10, token.size() - 5}) {
    std::string changed = token;
    changed[pos] = changed[pos] == 'A' ? 'B' : 'A';
    CAPTURE(pos);
    CHECK_FALSE(VerifyHs256Compact(changed, *key));
  }
  CHECK_FALSE(VerifyHs256Compact(token + ".x", *key));
  CHECK_FALSE(VerifyHs256Compact(token.substr(0, token.rfind('.')), *key));
  std::string other_key = *key;
  other_key[0] = static_cast<char>(other_key[0] ^ 1);
  CHECK_FALSE(VerifyHs256Compact(token, other_key));
  CHECK_THROWS_AS((void)VerifyHs256Compact(token, key->substr(0, 31)), std::invalid_argument);
}

TEST_CASE("auth jwt: only HS256 is accepted") {
  const JwtSigner signer = MakeSigner();
  // alg none: unsigned, empty signature (and also with a valid-looking MAC).
  const std::string unsigned_input =
      Base64UrlEncode(json::serialize(Header("none"))) + "." + Base64UrlEncode(json::serialize(Payload()));
  CHECK(ErrorOf(signer, unsigned_input + ".") == JwtError::kBadAlgorithm);
  CHECK(ErrorOf(signer, Forge(Header("none"), Payload())) == JwtError::kBadAlgorithm);
  for (const std::string_view alg : {"HS512", "RS256", "ES256", "hs256", "HS256 ", ""}) {
    CAPTURE(alg);
    CHECK(ErrorOf(signer, Forge(Header(alg), Payload())) == JwtError::kBadAlgorithm);
  }
  json::object no_alg = Header();
  no_alg.erase("alg");
  CHECK(ErrorOf(signer, Forge(no_alg, Payload())) == JwtError::kBadAlgorithm);
  json::object numeric_alg = Header();
  numeric_alg["alg"] = 256;
  CHECK(ErrorOf(signer, Forge(numeric_alg, Payload())) == JwtError::kBadAlgorithm);
  // The forged control with HS256 passes, so only `alg` made the difference.
  CHECK(signer.Verify(Forge(Header(), Payload()), kNow).has_value());
}

TEST_CASE("auth jwt: typ and crit header parameters") {
  const JwtSigner signer = MakeSigner();
  json::object header = Header();
  header["typ"] = "at+jwt";
  CHECK(ErrorOf(signer, Forge(header, Payload())) == JwtError::kWrongType);
  header["typ"] = "refresh";
  CHECK(ErrorOf(signer, Forge(header, Payload())) == JwtError::kWrongType);
  header["typ"] = 1;
  CHECK(ErrorOf(signer, Forge(header, Payload())) == JwtError::kWrongType);
  header.erase("typ");
  CHECK(signer.Verify(Forge(header, Payload()), kNow).has_value());
  // Headers that are not byte-for-byte ours take the full parsing path.
  const json::object reordered{{"kid", "k1"}, {"typ", "JWT"}, {"alg", "HS256"}, {"x-extra", 1}};
  CHECK(signer.Verify(Forge(reordered, Payload()), kNow).has_value());
  header["crit"] = json::array{"exp"};
  CHECK(ErrorOf(signer, Forge(header, Payload())) == JwtError::kMalformed);
}

TEST_CASE("auth jwt: tampered payload or signature is rejected") {
  const JwtSigner signer = MakeSigner();
  const std::string token = signer.Sign(Claims());

  json::object elevated = Payload();
  elevated["role"] = "ADMIN";
  const std::string tampered_payload =
      Part(token, 0) + "." + Base64UrlEncode(json::serialize(elevated)) + "." + Part(token, 2);
  CHECK(ErrorOf(signer, tampered_payload) == JwtError::kBadSignature);

  std::string mac = *Base64UrlDecode(Part(token, 2));
  mac[7] = static_cast<char>(mac[7] ^ 0x40);
  const std::string tampered_signature = Part(token, 0) + "." + Part(token, 1) + "." + Base64UrlEncode(mac);
  CHECK(ErrorOf(signer, tampered_signature) == JwtError::kBadSignature);

  const std::string input = Part(token, 0) + "." + Part(token, 1);
  CHECK(ErrorOf(signer, input + "." + Base64UrlEncode(mac.substr(0, 31))) == JwtError::kBadSignature);
  CHECK(ErrorOf(signer, input + "." + Base64UrlEncode(mac + "x")) == JwtError::kBadSignature);
  CHECK(ErrorOf(signer, input + "." + std::string(200, 'A')) == JwtError::kBadSignature);
  CHECK(ErrorOf(signer, input + ".") == JwtError::kBadSignature);
  // Signed with another secret under our kid.
  CHECK(ErrorOf(signer, Forge(Header(), Payload(), std::string(32, 'x'))) == JwtError::kBadSignature);
}

TEST_CASE("auth jwt: malformed tokens") {
  const JwtSigner signer = MakeSigner();
  const std::string token = signer.Sign(Claims());
  const std::string h = Part(token, 0);
  const std::string p = Part(token, 1);
  const std::string s = Part(token, 2);
  for (const std::string& bad : {
           std::string(""),
           std::string("."),
           std::string(".."),
           std::string("abc"),
           h + "." + p,
           token + ".",
           token + "." + s,
           "." + p + "." + s,
           h + ".." + s,
           h + "=." + p + "." + s,
           h + "." + p + "." + s + "=",
           h + "." + p + "." + s.substr(0, 42) + "+",
           " " + token,
           token + " ",
           token + "\n",
           Base64UrlEncode("not json") + "." + p + "." + s,
           Base64UrlEncode("[1,2]") + "." + p + "." + s,
           Base64UrlEncode("{\"alg\":\"HS256\",") + "." + p + "." + s,
           std::string(JwtSigner::kMaxTokenBytes + 1, 'a'),
       }) {
    CAPTURE(bad);
    CHECK(ErrorOf(signer, bad) == JwtError::kMalformed);
  }
  // A correctly signed payload that is not a JSON object.
  for (const std::string_view body : {"[]", "\"ticketd\"", "{\"sub\":", "null"}) {
    const std::string input = h + "." + Base64UrlEncode(body);
    CHECK(ErrorOf(signer, input + "." + Base64UrlEncode(HmacSha256(kSecret, input))) == JwtError::kMalformed);
  }
}

TEST_CASE("auth jwt: exp honours the leeway") {
  const JwtSigner signer = MakeSigner();  // leeway 30 s
  const std::string token = signer.Sign(Claims(kNow - 3600, kNow));
  CHECK(signer.Verify(token, kNow).has_value());
  CHECK(signer.Verify(token, kNow + 30).has_value());
  CHECK(ErrorOf(signer, token, kNow + 31) == JwtError::kExpired);
  CHECK(ErrorOf(signer, token, kNow + 100000) == JwtError::kExpired);

  const JwtSigner strict(JwtKey{"k1", kSecret}, {}, "ticketd", "ticketd-api", 0);
  CHECK(strict.Verify(token, kNow).has_value());
  CHECK(ErrorOf(strict, token, kNow + 1) == JwtError::kExpired);

  json::object payload = Payload();
  payload.erase("exp");
  CHECK(ErrorOf(signer, Forge(Header(), payload)) == JwtError::kMissingClaim);
  payload["exp"] = "2030-01-01";
  CHECK(ErrorOf(signer, Forge(Header(), payload)) == JwtError::kMissingClaim);
  payload["exp"] = 1e300;
  CHECK(ErrorOf(signer, Forge(Header(), payload)) == JwtError::kMalformed);
  payload["exp"] = static_cast<std::uint64_t>(1) << 63;
  CHECK(ErrorOf(signer, Forge(Header(), payload)) == JwtError::kMalformed);
  payload["exp"] = static_cast<double>(kNow) + 0.5;  // fractional NumericDate is allowed
  CHECK(signer.Verify(Forge(Header(), payload), kNow).has_value());
  payload["exp"] = std::numeric_limits<std::int64_t>::max();  // no overflow with the leeway
  CHECK(signer.Verify(Forge(Header(), payload), kNow).has_value());
}

TEST_CASE("auth jwt: iat and nbf in the future") {
  const JwtSigner signer = MakeSigner();
  CHECK(ErrorOf(signer, signer.Sign(Claims(kNow + 31, kNow + 3600))) == JwtError::kNotYetValid);
  CHECK(signer.Verify(signer.Sign(Claims(kNow + 30, kNow + 3600)), kNow).has_value());

  json::object payload = Payload();
  payload.erase("iat");
  CHECK(ErrorOf(signer, Forge(Header(), payload)) == JwtError::kMissingClaim);
  payload["iat"] = true;
  CHECK(ErrorOf(signer, Forge(Header(), payload)) == JwtError::kMissingClaim);

  payload = Payload();
  payload["nbf"] = kNow + 60;
  CHECK(ErrorOf(signer, Forge(Header(), payload)) == JwtError::kNotYetValid);
  CHECK(signer.Verify(Forge(Header(), payload), kNow + 30).has_value());
  payload["nbf"] = kNow;
  CHECK(signer.Verify(Forge(Header(), payload), kNow).has_value());
  payload["nbf"] = "soon";
  CHECK(ErrorOf(signer, Forge(Header(), payload)) == JwtError::kMalformed);
}

TEST_CASE("auth jwt: issuer and audience") {
  const JwtSigner signer = MakeSigner();
  CHECK(ErrorOf(signer, MakeSigner("someone-else").Sign(Claims())) == JwtError::kWrongIssuer);
  CHECK(ErrorOf(signer, MakeSigner("ticketd", "other-api").Sign(Claims())) == JwtError::kWrongAudience);

  json::object payload = Payload();
  payload.erase("iss");
  CHECK(ErrorOf(signer, Forge(Header(), payload)) == JwtError::kWrongIssuer);
  payload = Payload();
  payload["iss"] = json::array{"ticketd"};
  CHECK(ErrorOf(signer, Forge(Header(), payload)) == JwtError::kWrongIssuer);

  payload = Payload();
  payload["aud"] = json::array{"billing", "ticketd-api"};
  const auto verified = signer.Verify(Forge(Header(), payload), kNow);
  REQUIRE(verified.has_value());
  CHECK(verified->audience == "ticketd-api");
  payload["aud"] = json::array{"billing", "ticketd-api-2"};
  CHECK(ErrorOf(signer, Forge(Header(), payload)) == JwtError::kWrongAudience);
  payload["aud"] = json::array{};
  CHECK(ErrorOf(signer, Forge(Header(), payload)) == JwtError::kWrongAudience);
  payload["aud"] = json::array{json::array{"ticketd-api"}};
  CHECK(ErrorOf(signer, Forge(Header(), payload)) == JwtError::kWrongAudience);
  payload["aud"] = 7;
  CHECK(ErrorOf(signer, Forge(Header(), payload)) == JwtError::kWrongAudience);
  payload.erase("aud");
  CHECK(ErrorOf(signer, Forge(Header(), payload)) == JwtError::kWrongAudience);
}

TEST_CASE("auth jwt: sub role and jti are required") {
  const JwtSigner signer = MakeSigner();
  for (const std::string_view claim : {"sub", "role", "jti"}) {
    CAPTURE(claim);
    json::object payload = Payload();
    payload.erase(claim);
    CHECK(ErrorOf(signer, Forge(Header(), payload)) == JwtError::kMissingClaim);
    payload[claim] = "";
    CHECK(ErrorOf(signer, Forge(Header(), payload)) == JwtError::kMissingClaim);
    payload[claim] = 42;
    CHECK(ErrorOf(signer, Forge(Header(), payload)) == JwtError::kMissingClaim);
    payload[claim] = nullptr;
    CHECK(ErrorOf(signer, Forge(Header(), payload)) == JwtError::kMissingClaim);
  }
}

TEST_CASE("auth jwt: unknown or missing kid") {
  const JwtSigner signer = MakeSigner();
  CHECK(ErrorOf(signer, Forge(Header("HS256", "k9"), Payload())) == JwtError::kUnknownKey);
  CHECK(ErrorOf(signer, Forge(Header("HS256", ""), Payload())) == JwtError::kUnknownKey);
  json::object header = Header();
  header.erase("kid");
  CHECK(ErrorOf(signer, Forge(header, Payload())) == JwtError::kUnknownKey);
  header["kid"] = 1;
  CHECK(ErrorOf(signer, Forge(header, Payload())) == JwtError::kUnknownKey);
}

TEST_CASE("auth jwt: key rotation") {
  const JwtSigner old_signer(JwtKey{"k0", kOldSecret}, {}, "ticketd", "ticketd-api");
  const std::string old_token = old_signer.Sign(Claims());
  CHECK(json::parse(*Base64UrlDecode(Part(old_token, 0))).at("kid") == "k0");

  const JwtSigner rotated(JwtKey{"k1", kSecret}, {JwtKey{"k0", kOldSecret}}, "ticketd", "ticketd-api");
  const auto verified = rotated.Verify(old_token, kNow);
  REQUIRE(verified.has_value());
  CHECK(verified->subject == "user-1");
  const std::string new_token = rotated.Sign(Claims());
  CHECK(json::parse(*Base64UrlDecode(Part(new_token, 0))).at("kid") == "k1");
  CHECK(rotated.Verify(new_token, kNow).has_value());
  CHECK(ErrorOf(old_signer, new_token) == JwtError::kUnknownKey);

  const JwtSigner dropped(JwtKey{"k1", kSecret}, {}, "ticketd", "ticketd-api");
  CHECK(ErrorOf(dropped, old_token) == JwtError::kUnknownKey);
  // Same kid, different secret: the signature decides.
  const JwtSigner replaced(JwtKey{"k1", kSecret}, {JwtKey{"k0", std::string(40, 'q')}}, "ticketd", "ticketd-api");
  CHECK(ErrorOf(replaced, old_token) == JwtError::kBadSignature);
}

TEST_CASE("auth jwt: secrets longer than a SHA-256 block") {
  const std::string long_secret(100, 'L');
  const JwtSigner signer(JwtKey{"long", long_secret}, {}, "ticketd", "ticketd-api");
  CHECK(signer.Verify(signer.Sign(Claims()), kNow).has_value());
  CHECK(signer.Verify(Forge(Header("HS256", "long"), Payload(), long_secret), kNow).has_value());
}

TEST_CASE("auth jwt: invalid configuration is refused") {
  CHECK_THROWS_AS(JwtSigner(JwtKey{"k1", std::string(31, 's')}, {}, "ticketd", "ticketd-api"), std::invalid_argument);
  CHECK_THROWS_AS(JwtSigner(JwtKey{"k1", ""}, {}, "ticketd", "ticketd-api"), std::invalid_argument);
  CHECK_THROWS_AS(JwtSigner(JwtKey{"k1", kSecret}, {JwtKey{"k0", "short"}}, "ticketd", "ticketd-api"),
                  std::invalid_argument);
  CHECK_THROWS_AS(JwtSigner(JwtKey{"k1", kSecret}, {JwtKey{"k1", kOldSecret}}, "ticketd", "ticketd-api"),
                  std::invalid_argument);
  CHECK_THROWS_AS(JwtSigner(JwtKey{"", kSecret}, {}, "ticketd", "ticketd-api"), std::invalid_argument);
  CHECK_THROWS_AS(JwtSigner(JwtKey{"k\"1", kSecret}, {}, "ticketd", "ticketd-api"), std::invalid_argument);
  CHECK_THROWS_AS(JwtSigner(JwtKey{"k1", kSecret}, {}, "", "ticketd-api"), std::invalid_argument);
  CHECK_THROWS_AS(JwtSigner(JwtKey{"k1", kSecret}, {}, "ticketd", ""), std::invalid_argument);
  CHECK_THROWS_AS(JwtSigner(JwtKey{"k1", kSecret}, {}, "ticketd", "ticketd-api", -1), std::invalid_argument);
  CHECK_THROWS_AS(JwtSigner(JwtKey{"k1", kSecret}, {}, "ticketd", "ticketd-api", 301), std::invalid_argument);
  CHECK_NOTHROW(JwtSigner(JwtKey{"2024-06.k_1", kSecret}, {}, "ticketd", "ticketd-api", 0));
}

TEST_CASE("auth jwt: Sign refuses incomplete or foreign claims") {
  const JwtSigner signer = MakeSigner();
  AccessClaims claims = Claims();
  claims.subject.clear();
  CHECK_THROWS_AS((void)signer.Sign(claims), std::invalid_argument);
  claims = Claims();
  claims.role.clear();
  CHECK_THROWS_AS((void)signer.Sign(claims), std::invalid_argument);
  claims = Claims();
  claims.jti.clear();
  CHECK_THROWS_AS((void)signer.Sign(claims), std::invalid_argument);
  claims = Claims();
  claims.issuer = "someone-else";
  CHECK_THROWS_AS((void)signer.Sign(claims), std::invalid_argument);
  claims = Claims();
  claims.audience = "other-api";
  CHECK_THROWS_AS((void)signer.Sign(claims), std::invalid_argument);
  CHECK_THROWS_AS((void)signer.Sign(Claims(kNow, kNow)), std::invalid_argument);
}

TEST_CASE("auth jwt: error names") {
  CHECK(ToString(JwtError::kMalformed) == "malformed");
  CHECK(ToString(JwtError::kBadAlgorithm) == "bad_algorithm");
  CHECK(ToString(JwtError::kUnknownKey) == "unknown_key");
  CHECK(ToString(JwtError::kBadSignature) == "bad_signature");
  CHECK(ToString(JwtError::kExpired) == "expired");
  CHECK(ToString(JwtError::kNotYetValid) == "not_yet_valid");
  CHECK(ToString(JwtError::kWrongIssuer) == "wrong_issuer");
  CHECK(ToString(JwtError::kWrongAudience) == "wrong_audience");
  CHECK(ToString(JwtError::kMissingClaim) == "missing_claim");
  CHECK(ToString(JwtError::kWrongType) == "wrong_type");
}

// Not a benchmark (tools/bench measures speed): many verifications in a row
// and from several threads must all succeed and stay consistent.
TEST_CASE("auth jwt: repeated and concurrent verification") {
  const JwtSigner signer(JwtKey{"k1", kSecret}, {JwtKey{"k0", kOldSecret}}, "ticketd", "ticketd-api");
  const JwtSigner old_signer(JwtKey{"k0", kOldSecret}, {}, "ticketd", "ticketd-api");
  const std::vector<std::string> tokens = {signer.Sign(Claims()), old_signer.Sign(Claims()),
                                           Forge(Header(), Payload(), std::string(32, 'x'))};
  int ok = 0;
  for (int i = 0; i < 20000; ++i) ok += signer.Verify(tokens[0], kNow).has_value() ? 1 : 0;
  CHECK(ok == 20000);

  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        if (!signer.Verify(tokens[0], kNow) || !signer.Verify(tokens[1], kNow)) ++wrong;
        if (ErrorOf(signer, tokens[2]) != JwtError::kBadSignature) ++wrong;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(wrong.load() == 0);
}

// Found by the jwt fuzzer: a subject that is not UTF-8 was signed into a token Verify refuses.
TEST_CASE("jwt: Sign refuses claims that are not UTF-8") {
  const ticketd::auth::JwtSigner signer({"k1", std::string(40, 'k')}, {}, "ticketd", "ticketd-api");
  ticketd::auth::AccessClaims claims;
  claims.subject = "0100-00090c5a4-1111-7000-800\x9a-000000000001";
  claims.role = "USER";
  claims.jti = "jti-1";
  claims.issued_at = 1700000000;
  claims.expires_at = 1700000600;
  CHECK_THROWS_AS((void)signer.Sign(claims), std::invalid_argument);
}

TEST_CASE("jwt: Sign refuses claims that would make a token Verify refuses, and round-trips up to the limit") {
  // fuzz_jwt: a subject of 1,000 NULs (each escaped to \u0000) signed into a
  // 10 kB token that Verify refused as too long.
  const ticketd::auth::JwtSigner signer({"k1", std::string(40, 'k')}, {}, "ticketd", "ticketd-api");
  ticketd::auth::AccessClaims claims;
  claims.role = "USER";
  claims.jti = "jti-1";
  claims.issued_at = 1700000000;
  claims.expires_at = 1700000600;
  claims.subject = std::string(1000, '\0');
  CHECK_THROWS_AS((void)signer.Sign(claims), std::invalid_argument);
  // Every length either signs a token that verifies with the same claims, or is refused.
  bool refused_some = false;
  for (std::size_t n = 1; n < 2000; n += 37) {
    claims.subject = std::string(n, '\x01');
    std::string token;
    try {
      token = signer.Sign(claims);
    } catch (const std::invalid_argument&) {
      refused_some = true;
      continue;
    }
    const auto back = signer.Verify(token, 1700000000);
    REQUIRE(back.has_value());
    CHECK(back->subject == claims.subject);
  }
  CHECK(refused_some);
}
