#include "ticketd/core/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include <array>
#include <climits>
#include <stdexcept>

namespace ticketd::crypto {

namespace {

void EnsureSodium() {
  // sodium_init is idempotent and thread-safe; the static just skips the call.
  static const bool ok = sodium_init() >= 0;
  if (!ok) throw std::runtime_error("libsodium initialisation failed");
}

const unsigned char* Bytes(std::string_view s) noexcept { return reinterpret_cast<const unsigned char*>(s.data()); }
unsigned char* Bytes(std::string& s) noexcept { return reinterpret_cast<unsigned char*>(s.data()); }

std::string EncodeBase64(std::string_view bytes, int variant) {
  const std::size_t size = sodium_base64_encoded_len(bytes.size(), variant);  // includes the NUL
  std::string out(size, '\0');
  sodium_bin2base64(out.data(), out.size(), Bytes(bytes), bytes.size(), variant);
  out.resize(size - 1);
  return out;
}

bool InAlphabet(std::string_view text, int variant) noexcept {
  const bool url = variant == sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  for (const char c : text) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    (url ? (c == '-' || c == '_') : (c == '+' || c == '/' || c == '='));
    if (!ok) return false;
  }
  return true;
}

std::optional<std::string> DecodeBase64(std::string_view text, int variant) {
  // libsodium 1.0.18 decodes every byte >= 0x80 as a valid digit: screen the
  // alphabet first, and leave padding placement and trailing bits to it.
  if (!InAlphabet(text, variant)) return std::nullopt;
  std::string out(text.size() / 4 * 3 + 3, '\0');
  std::size_t size = 0;
  // No ignore set and no end pointer: libsodium then requires the whole input
  // to be consumed and rejects non-zero trailing bits.
  if (sodium_base642bin(Bytes(out), out.size(), text.data(), text.size(), nullptr, &size, nullptr, variant) != 0) {
    return std::nullopt;
  }
  out.resize(size);
  return out;
}

}  // namespace

std::string Base64UrlEncode(std::string_view bytes) {
  return EncodeBase64(bytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  return DecodeBase64(text, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

std::string Base64Encode(std::string_view bytes) { return EncodeBase64(bytes, sodium_base64_VARIANT_ORIGINAL); }

std::optional<std::string> Base64Decode(std::string_view text) {
  return DecodeBase64(text, sodium_base64_VARIANT_ORIGINAL);
}

std::string Hex(std::string_view bytes) {
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), Bytes(bytes), bytes.size());
  out.pop_back();
  return out;
}

std::string RandomBytes(std::size_t n) {
  EnsureSodium();
  std::string out(n, '\0');
  randombytes_buf(out.data(), out.size());
  return out;
}

std::string RandomToken() { return Base64UrlEncode(RandomBytes(32)); }

std::string Sha256(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1 || size != 32) {
    throw std::runtime_error("SHA-256 failed");
  }
  return std::string(reinterpret_cast<const char*>(digest.data()), size);
}

std::string Sha256Hex(std::string_view data) { return Hex(Sha256(data)); }

std::string HmacSha256(std::string_view key, std::string_view data) {
  if (key.size() > INT_MAX) throw std::invalid_argument("HmacSha256: key too long");
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int size = 0;
  // HMAC() rejects a NULL key pointer even for length 0.
  static constexpr unsigned char kEmpty = 0;
  const void* key_ptr = key.empty() ? &kEmpty : static_cast<const void*>(key.data());
  if (HMAC(EVP_sha256(), key_ptr, static_cast<int>(key.size()), Bytes(data), data.size(), mac.data(), &size) ==
          nullptr ||
      size != 32) {
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  return std::string(reinterpret_cast<const char*>(mac.data()), size);
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace ticketd::crypto
