#pragma once
// Structured logging: one JSON object per line on stdout
// (`{"ts":"…","level":"info","msg":"…",…fields}`). Thread-safe.
//
// By default a line is written before Write returns (the CLI commands, whose
// log lines interleave with what they print). The server calls StartAsync:
// lines then go to a background writer thread, so an I/O thread never waits
// for stdout (a terminal, a pipe to the container runtime). Under overload
// the writer sheds access lines (Access), counting them, and never any
// other line; an error line is on stdout before Write returns.

#include <boost/json/object.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
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
/// An info line that may be shed under overload (the per-request access log).
void Access(std::string_view msg, boost::json::object fields = {});

/// Moves writing to a background thread; at most `shed_above` lines wait
/// before access lines are dropped. Idempotent; StopAsync (or exit) drains.
void StartAsync(std::size_t shed_above = 65536);
/// Writes everything queued, then returns to writing inline.
void StopAsync();
/// Returns once every line logged before the call is written.
void Flush();

struct Stats {
  std::uint64_t written = 0;  // lines handed to stdout (or the test sink)
  std::uint64_t dropped = 0;  // access lines shed under overload
  std::size_t queued = 0;     // lines waiting now
};
[[nodiscard]] Stats GetStats();

/// The queue behind StartAsync, on its own output: tests drive it directly.
class AsyncWriter {
 public:
  AsyncWriter(std::function<void(std::string_view)> out, std::size_t shed_above);
  ~AsyncWriter();  // drains, then joins
  AsyncWriter(const AsyncWriter&) = delete;
  AsyncWriter& operator=(const AsyncWriter&) = delete;

  /// Queues one line (without its newline). A sheddable line is dropped when
  /// `shed_above` lines wait; any other line always queues. Never blocks on
  /// the output.
  void Push(std::string line, bool sheddable);
  /// Returns once every line pushed before the call reached the output.
  void Flush();
  [[nodiscard]] Stats GetStats() const;

 private:
  struct State;
  State* state_;
};

}  // namespace ticketd::log

namespace ticketd::log {
/// Replaces stdout as the destination of log lines (each without the
/// newline); an empty function restores stdout. For tests.
void SetSinkForTesting(std::function<void(std::string_view)> sink);
}  // namespace ticketd::log
