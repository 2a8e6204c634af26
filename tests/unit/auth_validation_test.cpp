#include <doctest/doctest.h>

#include "auth/validation.hpp"

using namespace ticketd::auth;

TEST_CASE("auth validation: email normalization") {
  CHECK(NormalizeEmail("  Minji@Example.COM ").value() == "minji@example.com");
  CHECK_FALSE(NormalizeEmail("no-at-sign"));
  CHECK_FALSE(NormalizeEmail("@example.com"));
  CHECK_FALSE(NormalizeEmail("a@b"));
  CHECK_FALSE(NormalizeEmail("a@@b.com"));
  CHECK_FALSE(NormalizeEmail("a b@c.com"));
  CHECK_FALSE(NormalizeEmail("a@b..com"));
  CHECK_FALSE(NormalizeEmail(std::string(300, 'a') + "@b.com"));
}

TEST_CASE("auth validation: password policy") {
  CHECK(CheckPassword("correct horse", "a@b.com") == PasswordVerdict::kOk);
  CHECK(CheckPassword("short", "a@b.com") == PasswordVerdict::kTooShort);
  CHECK(CheckPassword(std::string(129, 'x'), "a@b.com") == PasswordVerdict::kTooLong);
  CHECK(CheckPassword(std::string(128, 'x'), "a@b.com") == PasswordVerdict::kOk);
  CHECK(CheckPassword(std::string(1 << 20, 'x'), "a@b.com") == PasswordVerdict::kTooLong);
  CHECK(CheckPassword("Minji@Example.com", "minji@example.com") == PasswordVerdict::kEqualsEmail);
  CHECK(CheckPassword("\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8", "a@b.com") == PasswordVerdict::kInvalidText);
  // Korean counts by characters, not bytes: 8 syllables = 24 bytes.
  CHECK(CheckPassword("가나다라마바사아", "a@b.com") == PasswordVerdict::kOk);
  CHECK(CheckPassword("가나다라마바사", "a@b.com") == PasswordVerdict::kTooShort);
}

TEST_CASE("auth validation: phone, name, birth date") {
  CHECK(NormalizePhone("010-1234-5678").value() == "01012345678");
  CHECK(NormalizePhone("+82 10 1234 5678").value() == "821012345678");
  CHECK_FALSE(NormalizePhone("12345"));
  CHECK_FALSE(NormalizePhone("010-1234-567a"));
  CHECK(NormalizeName("  김민지 ").value() == "김민지");
  CHECK_FALSE(NormalizeName(""));
  CHECK_FALSE(NormalizeName(std::string(51, 'a')));
  CHECK_FALSE(NormalizeName("bad\nname"));
  CHECK(IsBirthDate("2000-02-29"));
  CHECK_FALSE(IsBirthDate("1900-02-29"));
  CHECK_FALSE(IsBirthDate("1995-13-01"));
  CHECK_FALSE(IsBirthDate("95-01-01"));
}
