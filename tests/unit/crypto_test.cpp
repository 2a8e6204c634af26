// Core's encodings, digests and MACs (include/ticketd/core/crypto.hpp), the
// one set every module uses, against published vectors.
#include "ticketd/core/crypto.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>

using namespace ticketd;

TEST_CASE("crypto: SHA-256 and HMAC-SHA256 match FIPS 180-4 and RFC 4231 vectors") {
  CHECK(crypto::Sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(crypto::Sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(crypto::Sha256("abc").size() == 32);
  // RFC 4231 test case 1 and 2 (a key shorter than the block), 6 (longer: hashed first).
  CHECK(crypto::Hex(crypto::HmacSha256(std::string(20, '\x0b'), "Hi There")) ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  CHECK(crypto::Hex(crypto::HmacSha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(crypto::Hex(crypto::HmacSha256(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First")) ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  CHECK(crypto::HmacSha256("", "").size() == 32);
}

TEST_CASE("crypto: base64 and base64url are strict inverses, hex is lower case") {
  CHECK(crypto::Base64Encode("fo") == "Zm8=");
  CHECK(crypto::Base64UrlEncode("\xfb\xff\xbf") == "-_-_");
  CHECK(crypto::Base64Decode("Zm8=") == std::string("fo"));
  CHECK(crypto::Base64UrlDecode("-_-_") == std::string("\xfb\xff\xbf"));
  for (const char* bad : {"Zm8", "Zm9=", "Zm 8=", "Zm8=\n", "Zm-=", "\xc3\xa9" "AA="}) {
    CAPTURE(bad);
    CHECK_FALSE(crypto::Base64Decode(bad).has_value());
  }
  for (const char* bad : {"Zm8=", "Zm9", "+/+/", "Z", "Zm8 "}) {
    CAPTURE(bad);
    CHECK_FALSE(crypto::Base64UrlDecode(bad).has_value());
  }
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  CHECK(crypto::Base64Decode(crypto::Base64Encode(bytes)) == bytes);
  CHECK(crypto::Base64UrlDecode(crypto::Base64UrlEncode(bytes)) == bytes);
  CHECK(crypto::Hex("\x01\xab\xff") == "01abff");
}

TEST_CASE("crypto: random tokens are 43 base64url characters and do not repeat") {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const auto token = crypto::RandomToken();
    REQUIRE(token.size() == 43);
    CHECK(crypto::Base64UrlDecode(token).has_value());
    seen.insert(token);
  }
  CHECK(seen.size() == 1000);
  CHECK(crypto::ConstantTimeEquals("abc", "abc"));
  CHECK_FALSE(crypto::ConstantTimeEquals("abc", "abd"));
  CHECK_FALSE(crypto::ConstantTimeEquals("abc", "ab"));
  CHECK(crypto::ConstantTimeEquals("", ""));
}
