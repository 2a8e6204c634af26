#pragma once
// The one set of encodings, digests and MACs every module uses: base64 and
// base64url (strict), hex, SHA-256, HMAC-SHA256, randomness and a
// constant-time compare. libsodium for the encodings and randomness, OpenSSL 3
// for SHA-256 and HMAC; every OpenSSL result is checked (a failure throws
// std::runtime_error). All functions are thread-safe.
//
// (auth's JWT verifier keeps its own allocation-free base64url decoder: a
// measured hot path, see modules/auth/jwt.cpp.)

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ticketd::crypto {

/// URL-safe base64 (RFC 4648 §5) without padding.
std::string Base64UrlEncode(std::string_view bytes);
/// Strict inverse of Base64UrlEncode: nullopt on padding, whitespace, any
/// character outside [A-Za-z0-9_-], an impossible length, or non-zero unused
/// trailing bits (so every byte string has exactly one accepted encoding).
std::optional<std::string> Base64UrlDecode(std::string_view text);
/// Standard base64 (RFC 4648 §4) with `=` padding.
std::string Base64Encode(std::string_view bytes);
/// Strict inverse of Base64Encode: padding is required, no whitespace, and
/// non-zero unused trailing bits are rejected. nullopt on any violation.
std::optional<std::string> Base64Decode(std::string_view text);
/// Lower-case hex of `bytes`.
std::string Hex(std::string_view bytes);

/// `n` bytes from the OS CSPRNG (libsodium randombytes_buf). Throws
/// std::runtime_error only if libsodium cannot be initialised.
std::string RandomBytes(std::size_t n);
/// 256 random bits as base64url without padding (43 characters).
std::string RandomToken();

/// SHA-256 of `data`: 32 raw bytes.
std::string Sha256(std::string_view data);
/// SHA-256 of `data` as 64 lower-case hex characters.
std::string Sha256Hex(std::string_view data);
/// HMAC-SHA256 of `data` under `key` (any length): 32 raw bytes.
std::string HmacSha256(std::string_view key, std::string_view data);
/// Equality whose running time does not depend on where the inputs differ.
/// The lengths are compared first (lengths are not treated as secret).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace ticketd::crypto
