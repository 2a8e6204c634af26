#include "auth/crypto.hpp"

#include <doctest/doctest.h>

#include <sodium.h>

#include <atomic>
#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using ticketd::auth::Base64Decode;
using ticketd::auth::Base64Encode;
using ticketd::auth::Base64UrlDecode;
using ticketd::auth::Base64UrlEncode;
using ticketd::auth::BlindIndex;
using ticketd::auth::ConstantTimeEquals;
using ticketd::auth::FieldCipher;
using ticketd::auth::HmacSha256;
using ticketd::auth::PasswordHasher;
using ticketd::auth::RandomBytes;
using ticketd::auth::RandomToken;
using ticketd::auth::Sha256Hex;

std::string ToHex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0x0F]);
  }
  return out;
}

const std::string kDataKey(32, '\x11');
const std::string kOldDataKey(32, '\x22');
const std::string kIndexKey = "0123456789abcdef0123456789abcdef";

// The base64url body of a FieldCipher token, decoded.
std::string SealedBytes(const std::string& token) {
  const std::size_t dot = token.rfind('.');
  REQUIRE(dot != std::string::npos);
  const std::optional<std::string> sealed = Base64UrlDecode(std::string_view(token).substr(dot + 1));
  REQUIRE(sealed.has_value());
  return *sealed;
}

std::string WithSealedBytes(const std::string& token, std::string_view sealed) {
  return token.substr(0, token.rfind('.') + 1) + Base64UrlEncode(sealed);
}

}  // namespace

TEST_CASE("auth crypto: base64url matches RFC 4648 vectors and round-trips") {
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}, {"\xfb\xff\xbf", "-_-_"},
  };
  for (const auto& [plain, encoded] : vectors) {
    CHECK(Base64UrlEncode(plain) == encoded);
    CHECK(Base64UrlDecode(encoded) == plain);
  }
  for (std::size_t n = 0; n < 70; ++n) {
    const std::string bytes = RandomBytes(n);
    const std::string encoded = Base64UrlEncode(bytes);
    CHECK(encoded.find_first_of("+/=") == std::string::npos);
    CHECK(Base64UrlDecode(encoded) == bytes);
  }
}

TEST_CASE("auth crypto: base64url decoding is strict") {
  for (const std::string_view bad : {
           "Zg==", "Zg=", "Zm8=",                // padding
           "Zh", "Zm9", "Zm9vYh",                // non-zero unused trailing bits
           "Z", "Zm9vY",                         // impossible lengths
           "Zm+v", "Zm/v",                       // standard alphabet
           " Zm9v", "Zm9v\n", "Zm 9v", "Zm9v.",  // whitespace and separators
           "Zm\xc3\xa9v",                        // non-ASCII
       }) {
    CAPTURE(bad);
    CHECK_FALSE(Base64UrlDecode(bad).has_value());
  }
  CHECK_FALSE(Base64UrlDecode(std::string_view("Zm9v\0", 5)).has_value());
  CHECK(Base64UrlDecode("Zm_v").has_value());

  // Every byte outside the alphabet is refused in every position (libsodium
  // 1.0.18 alone would accept bytes >= 0x80).
  const std::string_view url_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (int c = 0; c < 256; ++c) {
    const char ch = static_cast<char>(c);
    for (std::size_t pos = 0; pos < 4; ++pos) {
      std::string text = "QUJD";
      text[pos] = ch;
      CAPTURE(c);
      CHECK(Base64UrlDecode(text).has_value() == (url_alphabet.find(ch) != std::string_view::npos));
    }
  }
}

TEST_CASE("auth crypto: standard base64 requires padding and its own alphabet") {
  CHECK(Base64Encode("f") == "Zg==");
  CHECK(Base64Encode("fo") == "Zm8=");
  CHECK(Base64Encode("\xfb\xff\xbf") == "+/+/");
  CHECK(Base64Decode("Zg==") == std::string("f"));
  CHECK(Base64Decode("+/+/") == std::string("\xfb\xff\xbf"));
  for (const std::string_view bad : {"Zg", "Zg=", "Zg===", "Zh==", "-_-_", "Zm9v\n", "Zg==Zg=="}) {
    CAPTURE(bad);
    CHECK_FALSE(Base64Decode(bad).has_value());
  }
  const std::string bytes = RandomBytes(100);
  CHECK(Base64Decode(Base64Encode(bytes)) == bytes);

  const std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int c = 0; c < 256; ++c) {
    const char ch = static_cast<char>(c);
    for (std::size_t pos = 0; pos < 4; ++pos) {
      std::string text = "QUJD";
      text[pos] = ch;
      CAPTURE(c);
      CHECK(Base64Decode(text).has_value() == (alphabet.find(ch) != std::string_view::npos));
    }
  }
}

TEST_CASE("auth crypto: random bytes and tokens") {
  CHECK(RandomBytes(0).empty());
  CHECK(RandomBytes(17).size() == 17);
  std::set<std::string> tokens;
  for (int i = 0; i < 100; ++i) {
    const std::string token = RandomToken();
    CHECK(token.size() == 43);
    const std::optional<std::string> raw = Base64UrlDecode(token);
    REQUIRE(raw.has_value());
    CHECK(raw->size() == 32);
    tokens.insert(token);
  }
  CHECK(tokens.size() == 100);
}

TEST_CASE("auth crypto: SHA-256 and HMAC-SHA256 test vectors") {
  CHECK(Sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test cases 1, 2 and 6 (key longer than the block size).
  CHECK(ToHex(HmacSha256(std::string(20, '\x0b'), "Hi There")) ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  CHECK(ToHex(HmacSha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(ToHex(HmacSha256(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First")) ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  CHECK(HmacSha256("", "").size() == 32);
}

TEST_CASE("auth crypto: constant-time equality") {
  CHECK(ConstantTimeEquals("", ""));
  CHECK(ConstantTimeEquals("secret", "secret"));
  CHECK_FALSE(ConstantTimeEquals("secret", "secreT"));
  CHECK_FALSE(ConstantTimeEquals("secret", "secret!"));
  CHECK_FALSE(ConstantTimeEquals("", "x"));
  CHECK(ConstantTimeEquals(std::string_view("a\0b", 3), std::string_view("a\0b", 3)));
  CHECK_FALSE(ConstantTimeEquals(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

TEST_CASE("auth crypto: field cipher round trip and token format") {
  const FieldCipher cipher("d1", kDataKey);
  const std::string binary("a\0b\xff", 4);
  for (const std::string_view plain :
       {std::string_view(""), std::string_view("alice@example.com"),
        std::string_view("\xed\x99\x8d\xea\xb8\xb8\xeb\x8f\x99"), std::string_view(binary)}) {
    const std::string token = cipher.Encrypt(plain, "user:42:email");
    CHECK(token.starts_with("v1.d1."));
    CHECK(SealedBytes(token).size() == FieldCipher::kNonceBytes + plain.size() + FieldCipher::kTagBytes);
    CHECK(cipher.Decrypt(token, "user:42:email") == plain);
    CHECK_FALSE(cipher.NeedsReencrypt(token));
  }
  // A fresh nonce every time: equal plaintexts do not give equal tokens.
  CHECK(cipher.Encrypt("same", "ad") != cipher.Encrypt("same", "ad"));
  CHECK(cipher.key_id() == "d1");
}

TEST_CASE("auth crypto: field cipher rejects tampering and wrong associated data") {
  const FieldCipher cipher("d1", kDataKey);
  const std::string token = cipher.Encrypt("010-1234-5678", "user:42:phone");
  const std::string sealed = SealedBytes(token);

  // Flip one bit in every byte in turn: nonce, ciphertext and tag are all covered.
  for (std::size_t i = 0; i < sealed.size(); ++i) {
    std::string bad = sealed;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    CAPTURE(i);
    CHECK_THROWS_AS((void)cipher.Decrypt(WithSealedBytes(token, bad), "user:42:phone"), std::runtime_error);
  }
  // Swapping a value to another row or field fails.
  CHECK_THROWS_AS((void)cipher.Decrypt(token, "user:43:phone"), std::runtime_error);
  CHECK_THROWS_AS((void)cipher.Decrypt(token, "user:42:email"), std::runtime_error);
  CHECK_THROWS_AS((void)cipher.Decrypt(token, ""), std::runtime_error);
  // Truncated or malformed tokens.
  CHECK_THROWS_AS((void)cipher.Decrypt(WithSealedBytes(token, sealed.substr(0, sealed.size() - 1)), "user:42:phone"),
                  std::runtime_error);
  CHECK_THROWS_AS((void)cipher.Decrypt(WithSealedBytes(token, sealed.substr(0, 27)), "user:42:phone"),
                  std::runtime_error);
  for (const std::string& bad : {std::string(""), std::string("v1.d1."), std::string("v1.d1"), "v2" + token.substr(2),
                                 token + "=", token + ".x", "v1.d1.!" + token.substr(6), std::string("v1..x")}) {
    CAPTURE(bad);
    CHECK_THROWS_AS((void)cipher.Decrypt(bad, "user:42:phone"), std::runtime_error);
  }
  // Unknown key id.
  CHECK_THROWS_AS((void)cipher.Decrypt("v1.d9." + token.substr(6), "user:42:phone"), std::runtime_error);
}

TEST_CASE("auth crypto: field cipher key rotation") {
  const FieldCipher old_cipher("d0", kOldDataKey);
  const std::string old_token = old_cipher.Encrypt("Kim Minsu", "user:7:name");

  const FieldCipher rotated("d1", kDataKey, {{"d0", kOldDataKey}});
  CHECK(rotated.Decrypt(old_token, "user:7:name") == "Kim Minsu");
  CHECK(rotated.NeedsReencrypt(old_token));
  const std::string new_token = rotated.Encrypt("Kim Minsu", "user:7:name");
  CHECK(new_token.starts_with("v1.d1."));
  CHECK_FALSE(rotated.NeedsReencrypt(new_token));
  CHECK(rotated.Decrypt(new_token, "user:7:name") == "Kim Minsu");
  CHECK_FALSE(rotated.NeedsReencrypt("garbage"));
  CHECK_FALSE(rotated.NeedsReencrypt("v1.d9.AAAA"));

  // Relabelling a token with the other key's id does not decrypt.
  CHECK_THROWS_AS((void)rotated.Decrypt("v1.d1." + old_token.substr(6), "user:7:name"), std::runtime_error);
  // Once the old key is dropped its tokens are unreadable.
  const FieldCipher dropped("d1", kDataKey);
  CHECK_THROWS_AS((void)dropped.Decrypt(old_token, "user:7:name"), std::runtime_error);
}

TEST_CASE("auth crypto: field cipher validates keys and ids") {
  CHECK_THROWS_AS(FieldCipher("d1", std::string(31, 'k')), std::invalid_argument);
  CHECK_THROWS_AS(FieldCipher("d1", std::string(33, 'k')), std::invalid_argument);
  CHECK_THROWS_AS(FieldCipher("d1", ""), std::invalid_argument);
  CHECK_THROWS_AS(FieldCipher("", kDataKey), std::invalid_argument);
  CHECK_THROWS_AS(FieldCipher("d.1", kDataKey), std::invalid_argument);
  CHECK_THROWS_AS(FieldCipher(std::string(33, 'a'), kDataKey), std::invalid_argument);
  CHECK_THROWS_AS(FieldCipher("d1", kDataKey, {{"d0", std::string(16, 'k')}}), std::invalid_argument);
  CHECK_THROWS_AS(FieldCipher("d1", kDataKey, {{"d 0", kOldDataKey}}), std::invalid_argument);
  CHECK_THROWS_AS(FieldCipher("d1", kDataKey, {{"d1", kOldDataKey}}), std::invalid_argument);
  CHECK_NOTHROW(FieldCipher(std::string(32, 'a'), kDataKey, {{"Key_-0", kOldDataKey}}));
}

TEST_CASE("auth crypto: blind index is deterministic and domain-separated") {
  const BlindIndex index(kIndexKey);
  const std::string email = index.Of("email", "alice@example.com");
  CHECK(email.size() == 64);
  CHECK(email.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(index.Of("email", "alice@example.com") == email);
  CHECK(BlindIndex(kIndexKey).Of("email", "alice@example.com") == email);
  CHECK(index.Of("ci", "alice@example.com") != email);
  CHECK(index.Of("email", "bob@example.com") != email);
  CHECK(BlindIndex(std::string(32, 'z')).Of("email", "alice@example.com") != email);
  // The separator keeps (domain, value) pairs apart.
  CHECK(index.Of("ab", "c") != index.Of("a", "bc"));
  CHECK(email == ToHex(HmacSha256(kIndexKey, std::string("email\0alice@example.com", 23))));

  CHECK_THROWS_AS(BlindIndex(std::string(31, 'k')), std::invalid_argument);
  CHECK_THROWS_AS((void)index.Of("", "x"), std::invalid_argument);
  CHECK_THROWS_AS((void)index.Of(std::string_view("a\0b", 3), "x"), std::invalid_argument);
  CHECK_NOTHROW((void)index.Of("ci", ""));
}

TEST_CASE("auth crypto: password hasher with test parameters") {
  const PasswordHasher hasher = PasswordHasher::ForTesting();
  const std::string stored = hasher.Hash("correct horse battery staple");
  CHECK(stored.starts_with("$argon2id$v=19$m=8,t=1,p=1$"));
  CHECK(hasher.Verify(stored, "correct horse battery staple"));
  CHECK_FALSE(hasher.Verify(stored, "correct horse battery stapl"));
  CHECK_FALSE(hasher.Verify(stored, ""));
  CHECK(hasher.Hash("correct horse battery staple") != stored);  // random salt
  CHECK_FALSE(hasher.NeedsRehash(stored));

  // Not an argon2id hash: no match, and it needs replacing.
  for (const std::string_view bad : {std::string_view(""), std::string_view("plain"), std::string_view("$argon2id$"),
                                     std::string_view(stored).substr(0, stored.size() - 2)}) {
    CHECK_FALSE(hasher.Verify(bad, "correct horse battery staple"));
    CHECK(hasher.NeedsRehash(bad));
  }
  char argon2i[crypto_pwhash_STRBYTES];
  REQUIRE(crypto_pwhash_str_alg(argon2i, "pw", 2, crypto_pwhash_argon2i_OPSLIMIT_MIN,
                                crypto_pwhash_argon2i_MEMLIMIT_MIN, crypto_pwhash_ALG_ARGON2I13) == 0);
  CHECK_FALSE(hasher.Verify(argon2i, "pw"));
  CHECK(hasher.NeedsRehash(argon2i));

  // Stored hashes keep their own parameters; a hasher with other ones wants a rehash.
  const PasswordHasher stronger = PasswordHasher::ForTesting({.opslimit = 2, .memlimit_bytes = 16 * 1024});
  CHECK(stronger.Verify(stored, "correct horse battery staple"));
  CHECK(stronger.NeedsRehash(stored));
  const std::string restored = stronger.Hash("correct horse battery staple");
  CHECK(restored.starts_with("$argon2id$v=19$m=16,t=2,p=1$"));
  CHECK_FALSE(stronger.NeedsRehash(restored));
  CHECK(hasher.NeedsRehash(restored));

  CHECK_NOTHROW(hasher.BurnTime("whatever"));
  CHECK_NOTHROW(hasher.BurnTime(""));

  const std::string longest(PasswordHasher::kMaxPasswordBytes, 'p');
  CHECK(hasher.Verify(hasher.Hash(longest), longest));
  const std::string oversize(PasswordHasher::kMaxPasswordBytes + 1, 'p');
  CHECK_THROWS_AS((void)hasher.Hash(oversize), std::invalid_argument);
  CHECK_THROWS_AS((void)hasher.Verify(stored, oversize), std::invalid_argument);
  CHECK_THROWS_AS(hasher.BurnTime(oversize), std::invalid_argument);
  CHECK_THROWS_AS((void)hasher.Hash(std::string(1 << 20, 'p')), std::invalid_argument);

  CHECK_THROWS_AS(PasswordHasher::ForTesting({.opslimit = 0, .memlimit_bytes = 8192}), std::invalid_argument);
  CHECK_THROWS_AS(PasswordHasher::ForTesting({.opslimit = 1, .memlimit_bytes = 1024}), std::invalid_argument);
}

TEST_CASE("auth crypto: password hasher is usable from many threads") {
  const PasswordHasher hasher = PasswordHasher::ForTesting();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&hasher, &failures, t] {
      for (int i = 0; i < 5; ++i) {
        const std::string password = "pw-" + std::to_string(t) + "-" + std::to_string(i);
        const std::string stored = hasher.Hash(password);
        if (!hasher.Verify(stored, password) || hasher.Verify(stored, password + "x")) ++failures;
        hasher.BurnTime(password);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(failures.load() == 0);
}

TEST_CASE("auth crypto: password hasher enforces the OWASP minimum") {
  CHECK_THROWS_AS(PasswordHasher({.opslimit = 1, .memlimit_bytes = 19 * 1024 * 1024}), std::invalid_argument);
  CHECK_THROWS_AS(PasswordHasher({.opslimit = 2, .memlimit_bytes = 19 * 1024 * 1024 - 1}), std::invalid_argument);
  CHECK_THROWS_AS(PasswordHasher({.opslimit = 2, .memlimit_bytes = 8192}), std::invalid_argument);

  const PasswordHasher hasher;  // t=2, m=19 MiB
  const std::string stored = hasher.Hash("correct horse battery staple");
  CHECK(stored.starts_with("$argon2id$v=19$"));
  CHECK(stored.find("m=19456,t=2,p=1") != std::string::npos);
  CHECK(hasher.Verify(stored, "correct horse battery staple"));
  CHECK_FALSE(hasher.Verify(stored, "wrong"));
  CHECK_FALSE(hasher.NeedsRehash(stored));
  CHECK(hasher.NeedsRehash(PasswordHasher::ForTesting().Hash("correct horse battery staple")));
  CHECK(PasswordHasher::ForTesting().NeedsRehash(stored));
}
