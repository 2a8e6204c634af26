#include "auth/jwt.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <stdexcept>
#include <utility>

#include "auth/crypto.hpp"
#include "ticketd/core/input.hpp"

namespace ticketd::auth {

namespace {

namespace json = boost::json;

constexpr std::size_t kMacBytes = 32;
constexpr std::size_t kBlockBytes = 64;  // SHA-256 block size
constexpr std::size_t kMaxKeyIdBytes = 64;
constexpr std::string_view kAlgorithm = "HS256";
constexpr std::string_view kType = "JWT";

struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

MdCtx NewMdCtx() {
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx) throw std::runtime_error("EVP_MD_CTX_new failed");
  return ctx;
}

// One reusable digest context per thread: the hot path copies precomputed
// states into it instead of allocating a context per token.
EVP_MD_CTX* ScratchCtx() {
  thread_local const MdCtx scratch = NewMdCtx();
  return scratch.get();
}

// HMAC-SHA256 (RFC 2104) with the key-dependent first block of the inner and
// outer hashes absorbed once. Per message this costs two context copies and
// the hashing itself, several times cheaper than OpenSSL 3's HMAC()/EVP_MAC,
// which fetch and set up the algorithm on every call.
class Hs256Key {
 public:
  explicit Hs256Key(std::string_view secret) : inner_(NewMdCtx()), outer_(NewMdCtx()) {
    std::array<unsigned char, kBlockBytes> block{};
    bool ok = true;
    if (secret.size() > kBlockBytes) {
      ok = EVP_Digest(secret.data(), secret.size(), block.data(), nullptr, EVP_sha256(), nullptr) == 1;
    } else if (!secret.empty()) {
      std::memcpy(block.data(), secret.data(), secret.size());
    }
    std::array<unsigned char, kBlockBytes> ipad{};
    std::array<unsigned char, kBlockBytes> opad{};
    for (std::size_t i = 0; i < kBlockBytes; ++i) {
      ipad[i] = static_cast<unsigned char>(block[i] ^ 0x36);
      opad[i] = static_cast<unsigned char>(block[i] ^ 0x5c);
    }
    ok = ok && EVP_DigestInit_ex(inner_.get(), EVP_sha256(), nullptr) == 1 &&
         EVP_DigestUpdate(inner_.get(), ipad.data(), ipad.size()) == 1 &&
         EVP_DigestInit_ex(outer_.get(), EVP_sha256(), nullptr) == 1 &&
         EVP_DigestUpdate(outer_.get(), opad.data(), opad.size()) == 1;
    OPENSSL_cleanse(block.data(), block.size());
    OPENSSL_cleanse(ipad.data(), ipad.size());
    OPENSSL_cleanse(opad.data(), opad.size());
    if (!ok) throw std::runtime_error("HS256 key setup failed");
  }

  void Compute(std::string_view data, std::array<unsigned char, kMacBytes>& out) const {
    EVP_MD_CTX* const ctx = ScratchCtx();
    unsigned int size = 0;
    bool ok = EVP_MD_CTX_copy_ex(ctx, inner_.get()) == 1 && EVP_DigestUpdate(ctx, data.data(), data.size()) == 1 &&
              EVP_DigestFinal_ex(ctx, out.data(), &size) == 1 && size == kMacBytes;
    ok = ok && EVP_MD_CTX_copy_ex(ctx, outer_.get()) == 1 && EVP_DigestUpdate(ctx, out.data(), out.size()) == 1 &&
         EVP_DigestFinal_ex(ctx, out.data(), &size) == 1 && size == kMacBytes;
    if (!ok) throw std::runtime_error("HMAC-SHA256 failed");
  }

  // Constant-time comparison against a received signature.
  bool Matches(std::string_view data, const unsigned char* signature) const {
    std::array<unsigned char, kMacBytes> expected{};
    Compute(data, expected);
    return CRYPTO_memcmp(expected.data(), signature, kMacBytes) == 0;
  }

 private:
  MdCtx inner_;
  MdCtx outer_;
};

bool IsKeyId(std::string_view id) noexcept {
  if (id.empty() || id.size() > kMaxKeyIdBytes) return false;
  for (const char c : id) {
    const bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

std::optional<std::size_t> DecodeInto(std::string_view text, unsigned char* out, std::size_t capacity) noexcept {
  return detail::DecodeBase64Url(text, std::span<unsigned char>(out, capacity));
}

struct CompactParts {
  std::string_view header;
  std::string_view payload;
  std::string_view signature;
  std::string_view signing_input;  // header.payload
};

std::optional<CompactParts> Split(std::string_view token) {
  const std::size_t first = token.find('.');
  if (first == std::string_view::npos || first == 0) return std::nullopt;
  const std::size_t second = token.find('.', first + 1);
  if (second == std::string_view::npos || second == first + 1) return std::nullopt;
  if (token.find('.', second + 1) != std::string_view::npos) return std::nullopt;
  return CompactParts{token.substr(0, first), token.substr(first + 1, second - first - 1), token.substr(second + 1),
                      token.substr(0, second)};
}

using SignatureBytes = std::array<unsigned char, kMacBytes>;

// The decoded signature (decoded in `buffer`, which must hold 3/4 of the
// input): kMalformed for bad base64url, kBadSignature for a wrong length.
std::expected<SignatureBytes, JwtError> DecodeSignature(std::string_view text, unsigned char* buffer,
                                                        std::size_t capacity) {
  const std::optional<std::size_t> size = DecodeInto(text, buffer, capacity);
  if (!size) return std::unexpected(JwtError::kMalformed);
  if (*size != kMacBytes) return std::unexpected(JwtError::kBadSignature);
  SignatureBytes out{};
  std::memcpy(out.data(), buffer, kMacBytes);
  return out;
}

// Parses a base64url JSON object; the value lives in `resource`.
std::optional<json::object> ParseObject(std::string_view encoded, unsigned char* buffer, std::size_t capacity,
                                        json::monotonic_resource& resource) {
  const std::optional<std::size_t> size = DecodeInto(encoded, buffer, capacity);
  if (!size || *size == 0) return std::nullopt;
  json::error_code ec;
  json::value value =
      json::parse(std::string_view(reinterpret_cast<const char*>(buffer), *size), ec, json::storage_ptr(&resource));
  if (ec || !value.is_object()) return std::nullopt;
  return std::move(value.get_object());
}

enum class Rounding { kDown, kUp };

// A NumericDate as whole seconds: kMissingClaim when absent or not a number,
// kMalformed when out of range. Fractions round in the stricter direction.
std::expected<std::int64_t, JwtError> NumericDate(const json::value* value, Rounding rounding) {
  if (value == nullptr) return std::unexpected(JwtError::kMissingClaim);
  switch (value->kind()) {
    case json::kind::int64:
      return value->get_int64();
    case json::kind::uint64:
      if (value->get_uint64() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return std::unexpected(JwtError::kMalformed);
      }
      return static_cast<std::int64_t>(value->get_uint64());
    case json::kind::double_: {
      constexpr double kLimit = 9007199254740992.0;  // 2^53
      const double d = value->get_double();
      if (!std::isfinite(d) || d > kLimit || d < -kLimit) return std::unexpected(JwtError::kMalformed);
      return static_cast<std::int64_t>(rounding == Rounding::kDown ? std::floor(d) : std::ceil(d));
    }
    default:
      return std::unexpected(JwtError::kMissingClaim);
  }
}

std::int64_t SaturatingAdd(std::int64_t a, std::int64_t non_negative) noexcept {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  return a > kMax - non_negative ? kMax : a + non_negative;
}

// A non-empty string claim, or nullopt.
std::optional<std::string_view> NonEmptyString(const json::object& claims, std::string_view name) {
  const json::value* const value = claims.if_contains(name);
  if (value == nullptr || !value->is_string() || value->get_string().empty()) return std::nullopt;
  return std::string_view(value->get_string());
}

bool HasAudience(const json::value* aud, std::string_view audience) {
  if (aud == nullptr) return false;
  if (aud->is_string()) return aud->get_string() == audience;
  if (!aud->is_array()) return false;
  for (const json::value& item : aud->get_array()) {
    if (item.is_string() && item.get_string() == audience) return true;
  }
  return false;
}

}  // namespace

namespace detail {

// Table-driven rather than libsodium's constant-time decoder, which took half
// of Verify's time; a bearer token's encoding is not a secret worth hiding.
std::optional<std::size_t> DecodeBase64Url(std::string_view text, std::span<unsigned char> out) noexcept {
  static constexpr std::array<signed char, 256> kValue = [] {
    std::array<signed char, 256> table{};
    table.fill(-1);
    for (int i = 0; i < 26; ++i) {
      table['A' + i] = static_cast<signed char>(i);
      table['a' + i] = static_cast<signed char>(26 + i);
    }
    for (int i = 0; i < 10; ++i) table['0' + i] = static_cast<signed char>(52 + i);
    table['-'] = 62;
    table['_'] = 63;
    return table;
  }();
  const auto value = [&](std::size_t i) -> int { return kValue[static_cast<unsigned char>(text[i])]; };

  const std::size_t tail = text.size() % 4;
  if (tail == 1) return std::nullopt;
  const std::size_t size = text.size() / 4 * 3 + (tail == 0 ? 0 : tail - 1);
  if (size > out.size()) return std::nullopt;
  std::size_t i = 0;
  std::size_t o = 0;
  for (; i + 4 <= text.size(); i += 4) {
    const int a = value(i), b = value(i + 1), c = value(i + 2), d = value(i + 3);
    if ((a | b | c | d) < 0) return std::nullopt;
    const auto bits = static_cast<std::uint32_t>(a << 18 | b << 12 | c << 6 | d);
    out[o++] = static_cast<unsigned char>(bits >> 16);
    out[o++] = static_cast<unsigned char>(bits >> 8);
    out[o++] = static_cast<unsigned char>(bits);
  }
  if (tail == 2) {
    const int a = value(i), b = value(i + 1);
    // The unused low bits must be zero: one canonical encoding per value.
    if ((a | b) < 0 || (b & 0x0F) != 0) return std::nullopt;
    out[o++] = static_cast<unsigned char>(a << 2 | b >> 4);
  } else if (tail == 3) {
    const int a = value(i), b = value(i + 1), c = value(i + 2);
    if ((a | b | c) < 0 || (c & 0x03) != 0) return std::nullopt;
    out[o++] = static_cast<unsigned char>(a << 2 | b >> 4);
    out[o++] = static_cast<unsigned char>((b & 0x0F) << 4 | c >> 2);
  }
  return o;
}

}  // namespace detail

std::string_view ToString(JwtError error) noexcept {
  switch (error) {
    case JwtError::kMalformed:
      return "malformed";
    case JwtError::kBadAlgorithm:
      return "bad_algorithm";
    case JwtError::kUnknownKey:
      return "unknown_key";
    case JwtError::kBadSignature:
      return "bad_signature";
    case JwtError::kExpired:
      return "expired";
    case JwtError::kNotYetValid:
      return "not_yet_valid";
    case JwtError::kWrongIssuer:
      return "wrong_issuer";
    case JwtError::kWrongAudience:
      return "wrong_audience";
    case JwtError::kMissingClaim:
      return "missing_claim";
    case JwtError::kWrongType:
      return "wrong_type";
  }
  return "unknown";
}

struct JwtSigner::Impl {
  struct Key {
    std::string id;
    std::string header_b64;  // base64url of {"alg":"HS256","typ":"JWT","kid":"<id>"}
    Hs256Key mac;
  };
  std::vector<Key> keys;  // keys.front() signs
  std::string issuer;
  std::string audience;
  std::int64_t leeway = 0;

  const Hs256Key* Find(std::string_view kid) const noexcept {
    for (const Key& key : keys) {
      if (key.id == kid) return &key.mac;
    }
    return nullptr;
  }
  // Our own tokens carry exactly the header we wrote: recognising it skips
  // decoding and parsing it (the result is the same as the full checks).
  const Hs256Key* FindByHeader(std::string_view header_b64) const noexcept {
    for (const Key& key : keys) {
      if (key.header_b64 == header_b64) return &key.mac;
    }
    return nullptr;
  }
};

JwtSigner::JwtSigner(JwtKey signing_key, std::vector<JwtKey> verification_keys, std::string issuer,
                     std::string audience, std::int64_t leeway_seconds) {
  if (issuer.empty() || audience.empty()) throw std::invalid_argument("JwtSigner: issuer and audience are required");
  if (leeway_seconds < 0 || leeway_seconds > kMaxLeewaySeconds) {
    throw std::invalid_argument("JwtSigner: leeway must be within [0, 300] seconds");
  }
  auto impl = std::make_shared<Impl>();
  impl->issuer = std::move(issuer);
  impl->audience = std::move(audience);
  impl->leeway = leeway_seconds;
  verification_keys.insert(verification_keys.begin(), std::move(signing_key));
  impl->keys.reserve(verification_keys.size());
  for (JwtKey& key : verification_keys) {
    if (!IsKeyId(key.id)) throw std::invalid_argument("JwtSigner: key id must match [A-Za-z0-9_.-]{1,64}");
    if (key.secret.size() < kMinSecretBytes) throw std::invalid_argument("JwtSigner: HS256 secret must be >= 32 bytes");
    if (impl->Find(key.id) != nullptr) throw std::invalid_argument("JwtSigner: duplicate key id");
    // Key ids are restricted to characters that need no JSON escaping.
    std::string header_b64 = Base64UrlEncode(R"({"alg":"HS256","typ":"JWT","kid":")" + key.id + R"("})");
    impl->keys.push_back(Impl::Key{key.id, std::move(header_b64), Hs256Key(key.secret)});
    OPENSSL_cleanse(key.secret.data(), key.secret.size());
  }
  impl_ = std::move(impl);
}

std::string JwtSigner::Sign(const AccessClaims& claims) const {
  const Impl& impl = *impl_;
  if (claims.subject.empty() || claims.role.empty() || claims.jti.empty()) {
    throw std::invalid_argument("JwtSigner::Sign: subject, role and jti are required");
  }
  // Verify parses strict JSON: a claim that is not UTF-8 would make a token it refuses.
  if (!http::IsValidUtf8(claims.subject) || !http::IsValidUtf8(claims.role) || !http::IsValidUtf8(claims.jti)) {
    throw std::invalid_argument("JwtSigner::Sign: subject, role and jti must be UTF-8");
  }
  if ((!claims.issuer.empty() && claims.issuer != impl.issuer) ||
      (!claims.audience.empty() && claims.audience != impl.audience)) {
    throw std::invalid_argument("JwtSigner::Sign: issuer/audience differ from the signer's");
  }
  if (claims.expires_at <= claims.issued_at) throw std::invalid_argument("JwtSigner::Sign: expires_at <= issued_at");

  json::object payload;
  payload.reserve(7);
  payload.emplace("iss", impl.issuer);
  payload.emplace("sub", claims.subject);
  payload.emplace("aud", impl.audience);
  payload.emplace("role", claims.role);
  payload.emplace("jti", claims.jti);
  payload.emplace("iat", claims.issued_at);
  payload.emplace("exp", claims.expires_at);

  std::string token = impl.keys.front().header_b64;
  token.push_back('.');
  token += Base64UrlEncode(json::serialize(payload));
  SignatureBytes mac{};
  impl.keys.front().mac.Compute(token, mac);
  token.push_back('.');
  token += Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
  // Never hand out a token Verify refuses (found by fuzz_jwt: 1,000 NULs in
  // the subject escape to \u0000 each, six times longer, past the limit).
  if (token.size() > kMaxTokenBytes) {
    throw std::invalid_argument("JwtSigner::Sign: the claims make a token longer than kMaxTokenBytes");
  }
  return token;
}

std::expected<AccessClaims, JwtError> JwtSigner::Verify(std::string_view token, std::int64_t now_unix) const {
  const Impl& impl = *impl_;
  if (token.empty() || token.size() > kMaxTokenBytes) return std::unexpected(JwtError::kMalformed);
  const std::optional<CompactParts> parts = Split(token);
  if (!parts) return std::unexpected(JwtError::kMalformed);

  // Any part decodes to at most 3/4 of the token; the arena keeps the parsed
  // JSON off the heap for ordinary tokens.
  std::array<unsigned char, kMaxTokenBytes / 4 * 3 + 3> decoded;
  std::array<unsigned char, 4096> arena;
  json::monotonic_resource resource(arena.data(), arena.size());

  // The header is read before the signature only to pin the algorithm and pick the key.
  const Hs256Key* key = impl.FindByHeader(parts->header);
  if (key == nullptr) {
    const std::optional<json::object> header = ParseObject(parts->header, decoded.data(), decoded.size(), resource);
    if (!header) return std::unexpected(JwtError::kMalformed);
    const json::value* const alg = header->if_contains("alg");
    if (alg == nullptr || !alg->is_string() || alg->get_string() != kAlgorithm) {
      return std::unexpected(JwtError::kBadAlgorithm);
    }
    if (const json::value* typ = header->if_contains("typ"); typ != nullptr) {
      if (!typ->is_string() || typ->get_string() != kType) return std::unexpected(JwtError::kWrongType);
    }
    if (header->contains("crit")) return std::unexpected(JwtError::kMalformed);  // RFC 7515 §4.1.11: we support none
    const json::value* const kid = header->if_contains("kid");
    key = kid != nullptr && kid->is_string() ? impl.Find(kid->get_string()) : nullptr;
    if (key == nullptr) return std::unexpected(JwtError::kUnknownKey);
  }

  // A parsed header owns copies of its strings, so `decoded` can be reused.
  const std::expected<SignatureBytes, JwtError> signature =
      DecodeSignature(parts->signature, decoded.data(), decoded.size());
  if (!signature) return std::unexpected(signature.error());
  if (!key->Matches(parts->signing_input, signature->data())) return std::unexpected(JwtError::kBadSignature);

  const std::optional<json::object> claims = ParseObject(parts->payload, decoded.data(), decoded.size(), resource);
  if (!claims) return std::unexpected(JwtError::kMalformed);

  const std::expected<std::int64_t, JwtError> exp = NumericDate(claims->if_contains("exp"), Rounding::kDown);
  if (!exp) return std::unexpected(exp.error());
  if (now_unix > SaturatingAdd(*exp, impl.leeway)) return std::unexpected(JwtError::kExpired);
  const std::expected<std::int64_t, JwtError> iat = NumericDate(claims->if_contains("iat"), Rounding::kUp);
  if (!iat) return std::unexpected(iat.error());
  const std::int64_t latest_start = SaturatingAdd(now_unix, impl.leeway);
  if (*iat > latest_start) return std::unexpected(JwtError::kNotYetValid);
  if (const json::value* nbf_value = claims->if_contains("nbf"); nbf_value != nullptr) {
    const std::expected<std::int64_t, JwtError> nbf = NumericDate(nbf_value, Rounding::kUp);
    if (!nbf) return std::unexpected(JwtError::kMalformed);
    if (*nbf > latest_start) return std::unexpected(JwtError::kNotYetValid);
  }

  const json::value* const iss = claims->if_contains("iss");
  if (iss == nullptr || !iss->is_string() || iss->get_string() != impl.issuer) {
    return std::unexpected(JwtError::kWrongIssuer);
  }
  if (!HasAudience(claims->if_contains("aud"), impl.audience)) return std::unexpected(JwtError::kWrongAudience);

  const std::optional<std::string_view> sub = NonEmptyString(*claims, "sub");
  const std::optional<std::string_view> role = NonEmptyString(*claims, "role");
  const std::optional<std::string_view> jti = NonEmptyString(*claims, "jti");
  if (!sub || !role || !jti) return std::unexpected(JwtError::kMissingClaim);

  return AccessClaims{.issuer = impl.issuer,
                      .audience = impl.audience,
                      .subject = std::string(*sub),
                      .role = std::string(*role),
                      .jti = std::string(*jti),
                      .issued_at = *iat,
                      .expires_at = *exp};
}

bool VerifyHs256Compact(std::string_view token, std::string_view key) {
  if (key.size() < JwtSigner::kMinSecretBytes)
    throw std::invalid_argument("VerifyHs256Compact: key shorter than 32 bytes");
  const std::optional<CompactParts> parts = Split(token);
  if (!parts) return false;
  std::array<unsigned char, kMacBytes + 3> buffer{};
  if (parts->signature.size() > (kMacBytes * 4 + 2) / 3) return false;
  const std::expected<SignatureBytes, JwtError> signature =
      DecodeSignature(parts->signature, buffer.data(), buffer.size());
  if (!signature) return false;
  return Hs256Key(key).Matches(parts->signing_input, signature->data());
}

}  // namespace ticketd::auth
