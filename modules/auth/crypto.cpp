#include "auth/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include <array>
#include <climits>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <utility>

namespace ticketd::auth {

namespace {

constexpr std::string_view kFieldVersion = "v1.";
constexpr std::size_t kMaxKeyIdBytes = 32;

void EnsureSodium() {
  // sodium_init is idempotent and thread-safe; the static just skips the call.
  static const bool ok = sodium_init() >= 0;
  if (!ok) throw std::runtime_error("libsodium initialisation failed");
}

const unsigned char* Bytes(std::string_view s) noexcept { return reinterpret_cast<const unsigned char*>(s.data()); }
unsigned char* Bytes(std::string& s) noexcept { return reinterpret_cast<unsigned char*>(s.data()); }

bool IsKeyId(std::string_view id) noexcept {
  if (id.empty() || id.size() > kMaxKeyIdBytes) return false;
  for (const char c : id) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

void CheckFieldKey(std::string_view id, std::string_view key) {
  if (!IsKeyId(id)) throw std::invalid_argument("FieldCipher: key id must match [A-Za-z0-9_-]{1,32}");
  if (key.size() != FieldCipher::kKeyBytes) throw std::invalid_argument("FieldCipher: key must be 32 bytes");
}

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const noexcept { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

CipherCtx NewCipherCtx() {
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) throw std::runtime_error("EVP_CIPHER_CTX_new failed");
  return ctx;
}

// Feeds GCM additional data; the header binds version and key id, then the caller's context.
bool AddAad(EVP_CIPHER_CTX* ctx, std::string_view header, std::string_view associated_data, bool encrypt) {
  for (const std::string_view part : {header, associated_data}) {
    if (part.empty()) continue;
    int len = 0;
    const int rc = encrypt ? EVP_EncryptUpdate(ctx, nullptr, &len, Bytes(part), static_cast<int>(part.size()))
                           : EVP_DecryptUpdate(ctx, nullptr, &len, Bytes(part), static_cast<int>(part.size()));
    if (rc != 1) return false;
  }
  return true;
}

void CheckPasswordSize(std::string_view password) {
  if (password.size() > PasswordHasher::kMaxPasswordBytes) {
    throw std::invalid_argument("PasswordHasher: password longer than 4096 bytes");
  }
}

void CheckSodiumLimits(const PasswordHasher::Params& params) {
  if (params.opslimit < crypto_pwhash_argon2id_OPSLIMIT_MIN || params.opslimit > crypto_pwhash_argon2id_OPSLIMIT_MAX ||
      params.memlimit_bytes < crypto_pwhash_argon2id_MEMLIMIT_MIN ||
      params.memlimit_bytes > crypto_pwhash_argon2id_MEMLIMIT_MAX) {
    throw std::invalid_argument("PasswordHasher: parameters outside libsodium's argon2id limits");
  }
}

constexpr std::string_view kArgon2idPrefix = "$argon2id$";

// crypto_pwhash_str_* need a NUL-terminated string of bounded size.
std::optional<std::string> StoredHash(std::string_view stored) {
  if (stored.size() >= crypto_pwhash_STRBYTES || !stored.starts_with(kArgon2idPrefix)) return std::nullopt;
  if (stored.find('\0') != std::string_view::npos) return std::nullopt;
  return std::string(stored);
}

}  // namespace

// --- FieldCipher -------------------------------------------------------------

FieldCipher::FieldCipher(std::string key_id, std::string key, std::map<std::string, std::string> old_keys)
    : key_id_(std::move(key_id)), key_(std::move(key)) {
  CheckFieldKey(key_id_, key_);
  for (auto& [id, old_key] : old_keys) {
    CheckFieldKey(id, old_key);
    if (id == key_id_) throw std::invalid_argument("FieldCipher: old_keys repeats the current key id");
    old_keys_.emplace(id, std::move(old_key));
  }
}

const std::string* FieldCipher::FindKey(std::string_view key_id) const {
  if (key_id == key_id_) return &key_;
  const auto it = old_keys_.find(key_id);
  return it == old_keys_.end() ? nullptr : &it->second;
}

std::string FieldCipher::Encrypt(std::string_view plaintext, std::string_view associated_data) const {
  if (plaintext.size() > kMaxFieldBytes || associated_data.size() > kMaxFieldBytes) {
    throw std::invalid_argument("FieldCipher: value too large");
  }
  std::string header;
  header.reserve(kFieldVersion.size() + key_id_.size() + 1);
  header.append(kFieldVersion).append(key_id_).push_back('.');

  std::string sealed = RandomBytes(kNonceBytes);
  sealed.resize(kNonceBytes + plaintext.size() + kTagBytes);
  unsigned char* const nonce = Bytes(sealed);
  unsigned char* const body = nonce + kNonceBytes;
  unsigned char* const tag = body + plaintext.size();

  const CipherCtx ctx = NewCipherCtx();
  int len = 0;
  bool ok = EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, Bytes(key_), nonce) == 1 &&
            AddAad(ctx.get(), header, associated_data, true);
  if (ok && !plaintext.empty()) {
    ok = EVP_EncryptUpdate(ctx.get(), body, &len, Bytes(plaintext), static_cast<int>(plaintext.size())) == 1 &&
         static_cast<std::size_t>(len) == plaintext.size();
  }
  ok = ok && EVP_EncryptFinal_ex(ctx.get(), tag, &len) == 1 && len == 0 &&
       EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kTagBytes), tag) == 1;
  if (!ok) throw std::runtime_error("FieldCipher: encryption failed");
  return header + Base64UrlEncode(sealed);
}

std::string FieldCipher::Decrypt(std::string_view token, std::string_view associated_data) const {
  if (!token.starts_with(kFieldVersion)) throw std::runtime_error("FieldCipher: unsupported token format");
  const std::size_t dot = token.find('.', kFieldVersion.size());
  if (dot == std::string_view::npos) throw std::runtime_error("FieldCipher: malformed token");
  const std::string_view key_id = token.substr(kFieldVersion.size(), dot - kFieldVersion.size());
  const std::string_view header = token.substr(0, dot + 1);
  if (!IsKeyId(key_id)) throw std::runtime_error("FieldCipher: malformed token");
  const std::string* const key = FindKey(key_id);
  if (key == nullptr) throw std::runtime_error("FieldCipher: unknown key id");
  if (associated_data.size() > kMaxFieldBytes) throw std::runtime_error("FieldCipher: associated data too large");

  const std::string_view encoded = token.substr(dot + 1);
  if (encoded.size() > (kMaxFieldBytes + kNonceBytes + kTagBytes) / 3 * 4 + 4) {
    throw std::runtime_error("FieldCipher: malformed token");
  }
  const std::optional<std::string> sealed = Base64UrlDecode(encoded);
  if (!sealed || sealed->size() < kNonceBytes + kTagBytes) throw std::runtime_error("FieldCipher: malformed token");
  const std::size_t body_size = sealed->size() - kNonceBytes - kTagBytes;
  const auto* const nonce = reinterpret_cast<const unsigned char*>(sealed->data());
  const unsigned char* const body = nonce + kNonceBytes;
  const unsigned char* const tag = body + body_size;

  std::string plaintext(body_size, '\0');
  const CipherCtx ctx = NewCipherCtx();
  int len = 0;
  bool ok = EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, Bytes(*key), nonce) == 1 &&
            AddAad(ctx.get(), header, associated_data, false);
  if (ok && body_size > 0) {
    ok = EVP_DecryptUpdate(ctx.get(), Bytes(plaintext), &len, body, static_cast<int>(body_size)) == 1 &&
         static_cast<std::size_t>(len) == body_size;
  }
  // OpenSSL only reads the tag for SET_TAG despite the non-const parameter.
  ok = ok &&
       EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kTagBytes),
                           const_cast<unsigned char*>(tag)) == 1 &&
       EVP_DecryptFinal_ex(ctx.get(), Bytes(plaintext) + body_size, &len) == 1;
  if (!ok) {
    // GCM writes plaintext before the tag is checked: do not leave it around.
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    throw std::runtime_error("FieldCipher: authentication failed");
  }
  return plaintext;
}

bool FieldCipher::NeedsReencrypt(std::string_view token) const {
  if (!token.starts_with(kFieldVersion)) return false;
  const std::size_t dot = token.find('.', kFieldVersion.size());
  if (dot == std::string_view::npos) return false;
  const std::string_view key_id = token.substr(kFieldVersion.size(), dot - kFieldVersion.size());
  return key_id != key_id_ && old_keys_.contains(key_id);
}

// --- BlindIndex --------------------------------------------------------------

BlindIndex::BlindIndex(std::string key) : key_(std::move(key)) {
  if (key_.size() < kMinKeyBytes) throw std::invalid_argument("BlindIndex: key must be at least 32 bytes");
}

std::string BlindIndex::Of(std::string_view domain, std::string_view value) const {
  if (domain.empty() || domain.find('\0') != std::string_view::npos) {
    throw std::invalid_argument("BlindIndex: domain must be non-empty without NUL");
  }
  std::string message;
  message.reserve(domain.size() + 1 + value.size());
  message.append(domain).push_back('\0');
  message.append(value);
  const std::string mac = HmacSha256(key_, message);
  return crypto::Hex(mac);
}

// --- PasswordHasher ----------------------------------------------------------

PasswordHasher::PasswordHasher() : PasswordHasher(Params{}) {}

PasswordHasher::PasswordHasher(Params params) : params_(params) {
  if (params_.opslimit < kMinOpsLimit || params_.memlimit_bytes < kMinMemLimitBytes) {
    throw std::invalid_argument("PasswordHasher: parameters below the OWASP minimum (t=2, m=19 MiB)");
  }
  CheckSodiumLimits(params_);
  dummy_hash_ = Hash(RandomToken());
}

PasswordHasher::PasswordHasher(Params params, Unchecked) : params_(params) {
  CheckSodiumLimits(params_);
  dummy_hash_ = Hash(RandomToken());
}

PasswordHasher PasswordHasher::ForTesting() {
  return ForTesting(
      Params{.opslimit = crypto_pwhash_argon2id_OPSLIMIT_MIN, .memlimit_bytes = crypto_pwhash_argon2id_MEMLIMIT_MIN});
}

PasswordHasher PasswordHasher::ForTesting(Params params) { return PasswordHasher(params, Unchecked{}); }

std::string PasswordHasher::Hash(std::string_view password) const {
  CheckPasswordSize(password);
  EnsureSodium();
  std::array<char, crypto_pwhash_STRBYTES> out{};
  if (crypto_pwhash_str_alg(out.data(), password.data(), password.size(), params_.opslimit, params_.memlimit_bytes,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    throw std::runtime_error("PasswordHasher: argon2id failed (out of memory?)");
  }
  return std::string(out.data());
}

bool PasswordHasher::Verify(std::string_view stored, std::string_view password) const {
  CheckPasswordSize(password);
  EnsureSodium();
  const std::optional<std::string> hash = StoredHash(stored);
  if (!hash) return false;
  return crypto_pwhash_str_verify(hash->c_str(), password.data(), password.size()) == 0;
}

bool PasswordHasher::NeedsRehash(std::string_view stored) const {
  EnsureSodium();
  const std::optional<std::string> hash = StoredHash(stored);
  if (!hash) return true;
  // 0: same algorithm and parameters; 1: other parameters; -1: not a valid hash.
  return crypto_pwhash_str_needs_rehash(hash->c_str(), params_.opslimit, params_.memlimit_bytes) != 0;
}

void PasswordHasher::BurnTime(std::string_view password) const {
  CheckPasswordSize(password);
  EnsureSodium();
  // The result is meaningless (random dummy password); only the cost matters.
  [[maybe_unused]] const int rc = crypto_pwhash_str_verify(dummy_hash_.c_str(), password.data(), password.size());
}

}  // namespace ticketd::auth
