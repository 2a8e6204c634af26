#pragma once
// RFC 3339 timestamps as the API uses them: parsed with any offset, written
// in UTC with milliseconds ("2026-12-24T10:00:00.000Z").

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace ticketd {

using SysTime = std::chrono::system_clock::time_point;

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (a lower-case `t`/`z` or a
/// space separator too, as RFC 3339 allows). nullopt for anything else,
/// including out-of-range fields, a year outside kMinYear..kMaxYear (a SysTime
/// holds 1677-2262) and a missing offset.
std::optional<SysTime> ParseRfc3339(std::string_view text);
inline constexpr int kMinYear = 1900;
inline constexpr int kMaxYear = 2199;
/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
std::string FormatRfc3339(SysTime time);
/// Microseconds since the Unix epoch (how modules exchange times with Postgres:
/// `(extract(epoch from t) * 1e6)::bigint` and `to_timestamp($1 / 1e6)`).
std::int64_t ToMicros(SysTime time);
SysTime FromMicros(std::int64_t micros);

}  // namespace ticketd
