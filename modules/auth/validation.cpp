#include "auth/validation.hpp"

#include <algorithm>
#include <cctype>

namespace ticketd::auth {

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::optional<std::size_t> CodePoints(std::string_view text) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > text.size()) return std::nullopt;
    for (std::size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) >> 6) != 0x2) return std::nullopt;
    }
    i += len;
    ++count;
  }
  return count;
}

std::optional<std::string> NormalizeEmail(std::string_view email) {
  const std::string e = Lower(Trim(email));
  if (e.empty() || e.size() > 254) return std::nullopt;
  const auto at = e.find('@');
  if (at == std::string::npos || at == 0 || at > 64 || e.find('@', at + 1) != std::string::npos) return std::nullopt;
  const std::string_view domain = std::string_view(e).substr(at + 1);
  const auto dot = domain.rfind('.');
  if (domain.empty() || dot == std::string_view::npos || dot == 0 || dot + 1 >= domain.size()) return std::nullopt;
  if (domain.find("..") != std::string_view::npos) return std::nullopt;
  for (char c : e) {
    if (std::isspace(static_cast<unsigned char>(c)) || std::iscntrl(static_cast<unsigned char>(c))) return std::nullopt;
  }
  return e;
}

PasswordVerdict CheckPassword(std::string_view password, std::string_view normalized_email) {
  if (password.size() > kMaxPassword * 4) return PasswordVerdict::kTooLong;  // cheap wall before decoding
  const auto n = CodePoints(password);
  if (!n) return PasswordVerdict::kInvalidText;
  if (*n < kMinPassword) return PasswordVerdict::kTooShort;
  if (*n > kMaxPassword) return PasswordVerdict::kTooLong;
  if (!normalized_email.empty() && Lower(Trim(password)) == normalized_email) return PasswordVerdict::kEqualsEmail;
  return PasswordVerdict::kOk;
}

std::optional<std::string> NormalizePhone(std::string_view phone) {
  std::string digits;
  const auto t = Trim(phone);
  for (std::size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (std::isdigit(static_cast<unsigned char>(c))) {
      digits.push_back(c);
    } else if (c == '-' || c == ' ' || (c == '+' && i == 0)) {
      continue;
    } else {
      return std::nullopt;
    }
  }
  if (digits.size() < 9 || digits.size() > 15) return std::nullopt;
  return digits;
}

std::optional<std::string> NormalizeName(std::string_view name) {
  const auto t = Trim(name);
  const auto n = CodePoints(t);
  if (!n || *n < 1 || *n > 50) return std::nullopt;
  if (std::any_of(t.begin(), t.end(), [](char c) { return std::iscntrl(static_cast<unsigned char>(c)) != 0; })) {
    return std::nullopt;
  }
  return std::string(t);
}

bool IsBirthDate(std::string_view d) {
  if (d.size() != 10 || d[4] != '-' || d[7] != '-') return false;
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (!std::isdigit(static_cast<unsigned char>(d[i]))) return false;
  }
  const int y = std::stoi(std::string(d.substr(0, 4)));
  const int m = std::stoi(std::string(d.substr(5, 2)));
  const int day = std::stoi(std::string(d.substr(8, 2)));
  if (y < 1900 || y > 2100 || m < 1 || m > 12 || day < 1) return false;
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return day <= kDays[m - 1] && !(m == 2 && day == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
}

}  // namespace ticketd::auth
