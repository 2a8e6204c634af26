#pragma once
// HS256 JSON Web Tokens (RFC 7519) for short-lived access tokens, following
// the JWT best current practices (RFC 8725): the algorithm is pinned to HS256,
// the key is chosen by `kid` among configured keys only, the signature is
// checked before any claim is read, and iss/aud/exp/iat/nbf are enforced.
// Refresh tokens are opaque random strings and never JWTs.

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ticketd::auth {

/// A named HS256 secret. `id` is the JWT `kid` and must match
/// [A-Za-z0-9_.-]{1,64}; `secret` is raw bytes, at least 32 (checked by
/// JwtSigner, which throws std::invalid_argument otherwise).
struct JwtKey {
  std::string id;
  std::string secret;
};

/// The claims of an access token. Times are unix seconds. (The `{}`
/// initializers let designated initializers omit fields without GCC's
/// -Wmissing-field-initializers.)
struct AccessClaims {
  std::string issuer{}, audience{}, subject{}, role{}, jti{};
  std::int64_t issued_at = 0, expires_at = 0;
};

/// Why a token was refused. Every value maps to HTTP 401 at the edge;
/// kExpired is worth telling the client apart (it should refresh).
enum class JwtError {
  kMalformed,      // not three parts of base64url JSON objects, too long, `crit`, dates out of range, bad nbf
  kBadAlgorithm,   // `alg` missing or anything but exactly "HS256" (none, HS512, RS256, hs256, ...)
  kUnknownKey,     // `kid` missing or not a configured key
  kBadSignature,   // HMAC mismatch
  kExpired,        // now > exp + leeway
  kNotYetValid,    // iat or nbf > now + leeway
  kWrongIssuer,    // `iss` missing or not ours
  kWrongAudience,  // `aud` missing, or neither our audience nor an array containing it
  kMissingClaim,   // `exp`/`iat` missing or not numbers, or `sub`/`role`/`jti` not non-empty strings
  kWrongType,      // header `typ` present but not "JWT"
};

/// Stable snake_case name for logs and metrics ("bad_signature", ...).
std::string_view ToString(JwtError error) noexcept;

/// Signs access tokens with one key and verifies tokens made with it or with
/// any of the older `verification_keys` (key rotation: add the new key as the
/// signing key, keep the previous one for verification until its tokens have
/// expired, then drop it).
///
/// Thread-safe: immutable after construction; copies share the key material.
class JwtSigner {
 public:
  /// Longest token Verify accepts (bytes); longer ones are kMalformed.
  static constexpr std::size_t kMaxTokenBytes = 8192;
  static constexpr std::size_t kMinSecretBytes = 32;
  static constexpr std::int64_t kMaxLeewaySeconds = 300;

  /// Throws std::invalid_argument when a secret is shorter than 32 bytes, a key
  /// id is invalid or repeated, `issuer` or `audience` is empty, or the leeway
  /// is outside [0, 300] seconds.
  JwtSigner(JwtKey signing_key, std::vector<JwtKey> verification_keys, std::string issuer, std::string audience,
            std::int64_t leeway_seconds = 30);

  /// `header.payload.signature` with header {"alg":"HS256","typ":"JWT","kid":<signing key id>}
  /// and payload {iss, sub, aud, role, jti, iat, exp}. `claims.issuer` and
  /// `claims.audience` may be left empty (the signer's are used). Throws
  /// std::invalid_argument when subject, role or jti is empty or not UTF-8, when issuer or
  /// audience is set but differs from the signer's, when expires_at <= issued_at,
  /// or when the token would be longer than kMaxTokenBytes (Verify would refuse it);
  /// std::runtime_error if OpenSSL fails.
  [[nodiscard]] std::string Sign(const AccessClaims& claims) const;

  /// Checks, in order: shape and size, base64url (strict) and header JSON,
  /// alg == "HS256", typ (if present) == "JWT", no `crit`, kid known, the
  /// signature (constant-time), then the payload: exp (required), iat
  /// (required), nbf (optional) with the leeway, iss, aud (string or array),
  /// and non-empty sub, role and jti. No claim is read before the signature
  /// has been verified. On success `audience` is the signer's audience.
  /// Throws only std::runtime_error if OpenSSL fails internally.
  [[nodiscard]] std::expected<AccessClaims, JwtError> Verify(std::string_view token, std::int64_t now_unix) const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

/// Signature-only check of a compact JWS: true when `token` has three parts
/// and its third part is the base64url HMAC-SHA256 of `header.payload` under
/// `key` (raw bytes). Reads neither the header nor the claims, so it is no
/// substitute for JwtSigner::Verify (used for RFC 7515 test vectors).
/// Throws std::invalid_argument when the key is shorter than 32 bytes.
bool VerifyHs256Compact(std::string_view token, std::string_view key);

namespace detail {
/// Internal, exposed for tests. Strict base64url decoding exactly as
/// Base64UrlDecode accepts it (no padding, no other characters, canonical
/// trailing bits), written into `out` without allocating; the decoded size,
/// or nullopt when the input is invalid or `out` is too small. Not
/// constant-time (fine for bearer tokens, not for secrets).
std::optional<std::size_t> DecodeBase64Url(std::string_view text, std::span<unsigned char> out) noexcept;
}  // namespace detail

}  // namespace ticketd::auth
