#pragma once
// Structured logging: one JSON object per line on stdout
// (`{"ts":"…","level":"info","msg":"…",…fields}`). Thread-safe.

#include <boost/json/object.hpp>

#include <functional>
#include <string_view>

namespace ticketd::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

/// Parses "debug" | "info" | "warn" | "error".
bool ParseLevel(std::string_view text, Level& out);
void SetLevel(Level level);
[[nodiscard]] bool Enabled(Level level);

void Write(Level level, std::string_view msg, boost::json::object fields = {});
inline void Debug(std::string_view msg, boost::json::object fields = {}) { Write(Level::kDebug, msg, std::move(fields)); }
inline void Info(std::string_view msg, boost::json::object fields = {}) { Write(Level::kInfo, msg, std::move(fields)); }
inline void Warn(std::string_view msg, boost::json::object fields = {}) { Write(Level::kWarn, msg, std::move(fields)); }
inline void Error(std::string_view msg, boost::json::object fields = {}) { Write(Level::kError, msg, std::move(fields)); }

}  // namespace ticketd::log

namespace ticketd::log {
/// Replaces stdout as the destination of log lines (each without the
/// newline); an empty function restores stdout. For tests.
void SetSinkForTesting(std::function<void(std::string_view)> sink);
}  // namespace ticketd::log
