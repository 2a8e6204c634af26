#pragma once
// Cryptographic building blocks of the auth module: encodings, randomness,
// digests and MACs, field encryption for personal data at rest, blind indexes
// for looking up encrypted values, and argon2id password hashing.
//
// Backed by core's encodings, digests and MACs, libsodium (argon2id) and
// OpenSSL 3 (AES-256-GCM). Every free function and every const member function is
// thread-safe; the classes are immutable after construction.

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "ticketd/core/crypto.hpp"

namespace ticketd::auth {

// ---------------------------------------------------------------------------
// Encodings, randomness, digests, MACs: core's (include/ticketd/core/crypto.hpp)

using crypto::Base64Decode;
using crypto::Base64Encode;
using crypto::Base64UrlDecode;
using crypto::Base64UrlEncode;
using crypto::ConstantTimeEquals;
using crypto::HmacSha256;
using crypto::RandomBytes;
using crypto::RandomToken;
using crypto::Sha256Hex;

// ---------------------------------------------------------------------------
// Field encryption

/// AES-256-GCM encryption of single values (personal data at rest).
///
/// Token format: `v1.<key_id>.<base64url(nonce[12] | ciphertext | tag[16])>`.
/// The nonce is random per call, so equal plaintexts give different tokens
/// (use BlindIndex for lookups). The GCM additional data is the token prefix
/// `v1.<key_id>.` followed by `associated_data`; callers pass a string naming
/// where the value lives (e.g. "user:<id>:email") so that a ciphertext copied
/// to another row or field fails to decrypt. With random 96-bit nonces a key
/// must not encrypt more than ~2^32 values; rotate before that.
///
/// Key rotation: `key_id`/`key` encrypt; `old_keys` (id → key) only decrypt.
/// NeedsReencrypt tells which stored values to rewrite with the current key.
///
/// Thread-safe (immutable after construction).
class FieldCipher {
 public:
  static constexpr std::size_t kKeyBytes = 32;
  static constexpr std::size_t kNonceBytes = 12;
  static constexpr std::size_t kTagBytes = 16;
  /// Largest plaintext / associated data accepted (bytes).
  static constexpr std::size_t kMaxFieldBytes = std::size_t{1} << 24;

  /// Throws std::invalid_argument unless every key is exactly 32 raw bytes,
  /// every id matches [A-Za-z0-9_-]{1,32}, and `old_keys` does not repeat
  /// `key_id`.
  FieldCipher(std::string key_id, std::string key, std::map<std::string, std::string> old_keys = {});

  /// Encrypts with the current key. Throws std::invalid_argument when the
  /// plaintext or associated data exceeds kMaxFieldBytes, std::runtime_error
  /// if OpenSSL fails.
  [[nodiscard]] std::string Encrypt(std::string_view plaintext, std::string_view associated_data) const;
  /// Decrypts a token made by Encrypt with the current or an old key and the
  /// same associated data. Throws std::runtime_error on a malformed token, an
  /// unknown key id, or failed authentication (tampering, wrong associated
  /// data, wrong key). Never returns unauthenticated plaintext.
  [[nodiscard]] std::string Decrypt(std::string_view token, std::string_view associated_data) const;
  /// True when the token names one of the old keys (decryptable, but should be
  /// re-encrypted with the current key). False for current-key tokens and for
  /// tokens that are malformed or name an unknown key (Decrypt rejects those).
  /// Does not authenticate the token.
  [[nodiscard]] bool NeedsReencrypt(std::string_view token) const;

  [[nodiscard]] const std::string& key_id() const noexcept { return key_id_; }

 private:
  const std::string* FindKey(std::string_view key_id) const;

  std::string key_id_;
  std::string key_;
  std::map<std::string, std::string, std::less<>> old_keys_;
};

// ---------------------------------------------------------------------------
// Blind index

/// Deterministic keyed fingerprints of (normalised) values so that encrypted
/// columns can still be looked up by equality, e.g. `Of("email", email)` or
/// `Of("ci", ci)`. Different domains give unrelated outputs for the same value.
/// Normalise values (e.g. NormalizeEmail) before indexing.
///
/// Thread-safe (immutable after construction).
class BlindIndex {
 public:
  static constexpr std::size_t kMinKeyBytes = 32;

  /// Throws std::invalid_argument when the key is shorter than 32 bytes.
  explicit BlindIndex(std::string key);

  /// hex(HMAC-SHA256(key, domain + '\0' + value)): 64 lower-case hex chars.
  /// Throws std::invalid_argument when `domain` is empty or contains '\0'
  /// (that would make different (domain, value) pairs collide).
  [[nodiscard]] std::string Of(std::string_view domain, std::string_view value) const;

 private:
  std::string key_;
};

// ---------------------------------------------------------------------------
// Password hashing

/// argon2id (libsodium crypto_pwhash, p=1) password hashes in PHC string form
/// (`$argon2id$v=19$m=<KiB>,t=<ops>,p=1$<salt>$<hash>`), which records its own
/// parameters: hashes made with older parameters keep verifying, and
/// NeedsRehash says when to replace them after a successful login.
///
/// Every operation is deliberately slow (tens of milliseconds with the OWASP
/// parameters) and CPU/memory heavy: run it off the I/O threads.
/// Passwords longer than kMaxPasswordBytes make every method throw
/// std::invalid_argument before any hashing (a cheap wall against
/// denial-of-service; the request validation rejects long passwords earlier).
///
/// Thread-safe (immutable after construction).
class PasswordHasher {
 public:
  struct Params {
    unsigned long long opslimit = 2;                // argon2 t (passes)
    std::size_t memlimit_bytes = 19 * 1024 * 1024;  // argon2 m, in bytes (19 MiB = m=19456 KiB)
  };
  static constexpr std::size_t kMaxPasswordBytes = 4096;
  static constexpr unsigned long long kMinOpsLimit = 2;
  static constexpr std::size_t kMinMemLimitBytes = 19 * 1024 * 1024;

  /// OWASP minimum parameters (t=2, m=19 MiB).
  PasswordHasher();
  /// Throws std::invalid_argument when the parameters are below the OWASP
  /// minimum (opslimit < 2 or memlimit < 19 MiB) or above libsodium's maximum.
  /// Hashes one dummy password (for BurnTime), so it takes as long as Hash.
  explicit PasswordHasher(Params params);
  /// libsodium's minimum parameters (t=1, m=8 KiB): fast, for tests only.
  static PasswordHasher ForTesting();
  /// Any parameters libsodium accepts (no OWASP floor): for tests only.
  /// Throws std::invalid_argument outside libsodium's limits.
  static PasswordHasher ForTesting(Params params);

  /// A new PHC string with a random salt. Throws std::invalid_argument for an
  /// oversize password, std::runtime_error if libsodium fails (out of memory).
  [[nodiscard]] std::string Hash(std::string_view password) const;
  /// True when `stored` is an argon2id PHC string and `password` matches it.
  /// Anything that is not an argon2id hash (empty, corrupt, other algorithm)
  /// gives false. Throws std::invalid_argument for an oversize password.
  [[nodiscard]] bool Verify(std::string_view stored, std::string_view password) const;
  /// True when `stored` was not made by argon2id with this hasher's current
  /// parameters (including when it is not a valid hash at all).
  [[nodiscard]] bool NeedsRehash(std::string_view stored) const;
  /// Costs the same as a failed Verify with the current parameters (verifies
  /// against a dummy hash made at construction); call it when the user is
  /// unknown so that timing does not reveal which accounts exist.
  /// Throws std::invalid_argument for an oversize password.
  void BurnTime(std::string_view password) const;

  [[nodiscard]] const Params& params() const noexcept { return params_; }

 private:
  struct Unchecked {};
  PasswordHasher(Params params, Unchecked);

  Params params_;
  std::string dummy_hash_;
};

}  // namespace ticketd::auth
