#include "ticketd/core/log.hpp"

#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include <cmath>
#include <boost/json/value.hpp>

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <utility>

namespace ticketd::log {

namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

std::mutex& SinkMutex() {
  static std::mutex mu;
  return mu;
}

std::function<void(std::string_view)>& Sink() {
  static std::function<void(std::string_view)> sink;
  return sink;
}

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

// RFC 3339 in UTC with milliseconds: 2026-11-21T12:00:00.123Z.
std::string Timestamp(std::chrono::system_clock::time_point now) {
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(now);
  const auto day = floor<days>(ms);
  const year_month_day ymd{day};
  const hh_mm_ss hms{ms - day};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()), static_cast<int>(hms.subseconds().count()));
  return buf;
}

void WriteStdout(std::string_view line) {
  while (!line.empty()) {
    const auto n = ::write(STDOUT_FILENO, line.data(), line.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // Nowhere left to report a failing stdout.
    }
    line.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace

bool ParseLevel(std::string_view text, Level& out) {
  for (const auto level : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (text == LevelName(level)) {
      out = level;
      return true;
    }
  }
  return false;
}

void SetLevel(Level level) { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }

bool Enabled(Level level) { return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed); }

namespace {
// Boost.JSON prints doubles as `5.217E0`; log readers expect `5.217`, so
// top-level doubles use fmt's shortest round-trip form.
std::string Serialize(const boost::json::object& line) {
  std::string text = "{";
  for (const auto& field : line) {
    if (text.size() > 1) text += ',';
    text += boost::json::serialize(boost::json::string_view(field.key()));
    text += ':';
    const auto& v = field.value();
    if (v.is_double() && std::isfinite(v.get_double())) {
      text += fmt::format("{}", v.get_double());
    } else {
      text += boost::json::serialize(v);
    }
  }
  text += '}';
  return text;
}
}  // namespace

void Write(Level level, std::string_view msg, boost::json::object fields) {
  if (!Enabled(level)) return;
  boost::json::object line(fields.storage());
  line.reserve(fields.size() + 3);
  line.emplace("ts", Timestamp(std::chrono::system_clock::now()));
  line.emplace("level", LevelName(level));
  line.emplace("msg", msg);
  // A field named ts/level/msg does not replace the envelope's.
  for (auto& field : fields) line.emplace(field.key(), std::move(field.value()));
  std::string text = Serialize(line);

  std::lock_guard lock(SinkMutex());
  if (const auto& sink = Sink()) {
    sink(text);
    return;
  }
  text += '\n';
  std::fflush(stdout);  // keeps order with anything printed through stdio
  WriteStdout(text);
}

void SetSinkForTesting(std::function<void(std::string_view)> sink) {
  std::lock_guard lock(SinkMutex());
  Sink() = std::move(sink);
}

}  // namespace ticketd::log
