#pragma once
// Input rules of the auth module as pure functions (unit-tested without HTTP).

#include <optional>
#include <string>
#include <string_view>

namespace ticketd::auth {

/// Trims and lower-cases; nullopt unless it looks like local@domain.tld (≤ 254 chars).
std::optional<std::string> NormalizeEmail(std::string_view email);
/// Number of Unicode code points; nullopt for invalid UTF-8.
std::optional<std::size_t> CodePoints(std::string_view text);

enum class PasswordVerdict { kOk, kTooShort, kTooLong, kEqualsEmail, kInvalidText };
/// 8–128 code points, valid UTF-8, not the account's email (case-insensitive).
PasswordVerdict CheckPassword(std::string_view password, std::string_view normalized_email);
inline constexpr std::size_t kMinPassword = 8;
inline constexpr std::size_t kMaxPassword = 128;

/// Digits only (dashes, spaces and a leading + removed); nullopt unless 9–15 digits.
std::optional<std::string> NormalizePhone(std::string_view phone);
/// 1–50 code points after trimming, no control characters.
std::optional<std::string> NormalizeName(std::string_view name);
/// YYYY-MM-DD with a plausible calendar date.
bool IsBirthDate(std::string_view date);

}  // namespace ticketd::auth
