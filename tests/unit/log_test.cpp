#include "ticketd/core/log.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

namespace json = boost::json;
namespace log = ticketd::log;

// Captures log lines for the duration of a test and restores stdout and the
// default level afterwards.
class CapturedLog {
 public:
  CapturedLog() {
    log::SetSinkForTesting([this](std::string_view line) {
      std::lock_guard lock(mu_);
      lines_.emplace_back(line);
    });
  }
  ~CapturedLog() {
    log::SetSinkForTesting({});
    log::SetLevel(log::Level::kInfo);
  }
  CapturedLog(const CapturedLog&) = delete;
  CapturedLog& operator=(const CapturedLog&) = delete;

  std::vector<std::string> Lines() const {
    std::lock_guard lock(mu_);
    return lines_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

json::object ParseLine(const std::string& line) {
  json::error_code ec;
  auto value = json::parse(line, ec);
  REQUIRE_MESSAGE(!ec, line);
  REQUIRE_MESSAGE(value.is_object(), line);
  return value.as_object();
}

// Matches `pattern`, where '9' stands for any digit and every other character for itself.
bool MatchesPattern(std::string_view text, std::string_view pattern) {
  if (text.size() != pattern.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool ok = pattern[i] == '9' ? (text[i] >= '0' && text[i] <= '9') : text[i] == pattern[i];
    if (!ok) return false;
  }
  return true;
}

std::vector<std::string> Keys(const json::object& object) {
  std::vector<std::string> keys;
  for (const auto& field : object) keys.emplace_back(field.key());
  return keys;
}

}  // namespace

TEST_CASE("log: SetSinkForTesting captures one JSON object per line") {
  CapturedLog captured;
  log::Info("server started", {{"port", 8080}, {"tls", false}, {"host", "0.0.0.0"}});
  log::Error("db down");

  const auto lines = captured.Lines();
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].find('\n') == std::string::npos);
  const auto first = ParseLine(lines[0]);
  CHECK(Keys(first) == std::vector<std::string>{"ts", "level", "msg", "port", "tls", "host"});
  CHECK(first.at("level") == "info");
  CHECK(first.at("msg") == "server started");
  CHECK(first.at("port") == 8080);
  CHECK(first.at("tls") == false);
  CHECK(first.at("host") == "0.0.0.0");

  const auto second = ParseLine(lines[1]);
  CHECK(Keys(second) == std::vector<std::string>{"ts", "level", "msg"});
  CHECK(second.at("level") == "error");
}

TEST_CASE("log: ts is RFC 3339 UTC with milliseconds and close to now") {
  CapturedLog captured;
  log::Warn("tick");
  const auto lines = captured.Lines();
  REQUIRE(lines.size() == 1);
  const auto line = ParseLine(lines[0]);
  CHECK(line.at("level") == "warn");
  const std::string ts(line.at("ts").as_string());
  CHECK_MESSAGE(MatchesPattern(ts, "9999-99-99T99:99:99.999Z"), ts);

  const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  const auto day = std::chrono::floor<std::chrono::days>(now);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{now - day};
  const int year = std::stoi(ts.substr(0, 4));
  const int hour = std::stoi(ts.substr(11, 2));
  CHECK(year == static_cast<int>(ymd.year()));
  // Allow for the hour ticking over between the log call and now.
  CHECK((hour == hms.hours().count() || (hour + 1) % 24 == hms.hours().count()));
}

TEST_CASE("log: level filtering") {
  CapturedLog captured;
  CHECK(log::Enabled(log::Level::kInfo));
  CHECK_FALSE(log::Enabled(log::Level::kDebug));
  log::Debug("hidden by default");
  CHECK(captured.Lines().empty());

  log::SetLevel(log::Level::kDebug);
  log::Debug("now visible");
  REQUIRE(captured.Lines().size() == 1);
  CHECK(ParseLine(captured.Lines()[0]).at("level") == "debug");

  log::SetLevel(log::Level::kWarn);
  CHECK_FALSE(log::Enabled(log::Level::kInfo));
  log::Info("dropped");
  log::Debug("dropped");
  log::Warn("kept");
  log::Error("kept");
  const auto lines = captured.Lines();
  REQUIRE(lines.size() == 3);
  CHECK(ParseLine(lines[1]).at("level") == "warn");
  CHECK(ParseLine(lines[2]).at("level") == "error");

  log::SetLevel(log::Level::kError);
  log::Warn("dropped");
  CHECK(captured.Lines().size() == 3);
}

TEST_CASE("log: ParseLevel") {
  log::Level level = log::Level::kInfo;
  CHECK(log::ParseLevel("debug", level));
  CHECK(level == log::Level::kDebug);
  CHECK(log::ParseLevel("warn", level));
  CHECK(level == log::Level::kWarn);
  CHECK(log::ParseLevel("error", level));
  CHECK(level == log::Level::kError);
  CHECK(log::ParseLevel("info", level));
  CHECK(level == log::Level::kInfo);
  CHECK_FALSE(log::ParseLevel("verbose", level));
  CHECK_FALSE(log::ParseLevel("", level));
  CHECK(level == log::Level::kInfo);
}

TEST_CASE("log: quotes, backslashes and newlines are escaped") {
  CapturedLog captured;
  const std::string nasty = "say \"hi\"\nthen \\ leave\t\x01";
  log::Info(nasty, {{"detail", nasty}, {"key \"q\"", 1}});

  const auto lines = captured.Lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find('\n') == std::string::npos);
  CHECK(lines[0].find("\\\"hi\\\"\\nthen \\\\ leave") != std::string::npos);
  const auto line = ParseLine(lines[0]);
  CHECK(line.at("msg").as_string() == nasty);
  CHECK(line.at("detail").as_string() == nasty);
  CHECK(line.at("key \"q\"") == 1);
}

TEST_CASE("log: fields cannot replace ts, level or msg") {
  CapturedLog captured;
  log::Info("real", {{"msg", "fake"}, {"level", "error"}, {"user", "u1"}});
  const auto line = ParseLine(captured.Lines().at(0));
  CHECK(line.at("msg") == "real");
  CHECK(line.at("level") == "info");
  CHECK(line.at("user") == "u1");
  CHECK(line.size() == 4);
}

TEST_CASE("log: concurrent writers produce whole lines") {
  CapturedLog captured;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < kPerThread; ++i) log::Info("work", {{"thread", t}, {"i", i}});
    });
  }
  for (auto& thread : threads) thread.join();
  const auto lines = captured.Lines();
  REQUIRE(lines.size() == kThreads * kPerThread);
  for (const auto& line : lines) ParseLine(line);
}

TEST_CASE("log: an empty sink restores stdout") {
  {
    CapturedLog captured;
    log::Info("captured");
    CHECK(captured.Lines().size() == 1);
  }
  // Goes to stdout now; must not crash or reach the old sink.
  log::Debug("below the default level, so not printed");
}

// ---- the background writer (log::StartAsync) ----

namespace {
std::vector<std::string> SplitLines(const std::vector<std::string>& chunks) {
  std::vector<std::string> lines;
  for (const auto& chunk : chunks) {
    std::string_view rest(chunk);
    while (!rest.empty()) {
      const auto nl = rest.find('\n');
      REQUIRE(nl != std::string_view::npos);  // every line ends in a newline
      lines.emplace_back(rest.substr(0, nl));
      rest.remove_prefix(nl + 1);
    }
  }
  return lines;
}
}  // namespace

TEST_CASE("log: the async writer keeps each thread's order and Flush waits for every line") {
  std::mutex mu;
  std::vector<std::string> chunks;
  log::AsyncWriter writer([&](std::string_view chunk) {
    std::lock_guard lock(mu);
    chunks.emplace_back(chunk);
  }, 1000);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&writer, t] {
      for (int i = 0; i < 2000; ++i) writer.Push(std::to_string(t) + ":" + std::to_string(i), false);
    });
  }
  for (auto& th : threads) th.join();
  writer.Flush();
  std::vector<std::string> lines;
  {
    std::lock_guard lock(mu);
    lines = SplitLines(chunks);
  }
  REQUIRE(lines.size() == 8000);  // none shed: only access lines may be
  std::vector<int> next(4, 0);
  for (const auto& line : lines) {
    const int t = line[0] - '0';
    CHECK(line == std::to_string(t) + ":" + std::to_string(next[static_cast<std::size_t>(t)]));
    ++next[static_cast<std::size_t>(t)];
  }
  const auto stats = writer.GetStats();
  CHECK(stats.written == 8000);
  CHECK(stats.dropped == 0);
  CHECK(stats.queued == 0);
}

TEST_CASE("log: a stalled output sheds access lines, keeps every other line, and never blocks Push") {
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false;
  bool release = false;
  std::vector<std::string> chunks;
  log::AsyncWriter writer([&](std::string_view chunk) {
    std::unique_lock lock(mu);
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });  // stdout stuck (a full pipe)
    chunks.emplace_back(chunk);
  }, 100);
  writer.Push("first", false);
  {
    std::unique_lock lock(mu);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return entered; }));
  }
  // The writer is inside the stuck write: the queue fills.
  for (int i = 0; i < 130; ++i) writer.Push("access " + std::to_string(i), true);
  for (int i = 0; i < 7; ++i) writer.Push("warn " + std::to_string(i), false);
  auto stats = writer.GetStats();
  CHECK(stats.dropped == 30);
  CHECK(stats.queued == 107);
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  writer.Flush();
  std::vector<std::string> lines;
  {
    std::lock_guard lock(mu);
    lines = SplitLines(chunks);
  }
  REQUIRE(lines.size() == 1 + 100 + 7);
  CHECK(lines[0] == "first");
  CHECK(lines[100] == "access 99");
  CHECK(lines[101] == "warn 0");
  CHECK(lines[107] == "warn 6");
  stats = writer.GetStats();
  CHECK(stats.written == 108);
  CHECK(stats.dropped == 30);
}

TEST_CASE("log: in async mode an error line is written before Write returns, and StopAsync drains") {
  CapturedLog captured;
  log::StartAsync();
  log::Error("db down", {{"attempt", 3}});
  auto lines = captured.Lines();  // no Flush: the error line is already out
  REQUIRE(lines.size() == 1);
  CHECK(ParseLine(lines[0]).at("msg").as_string() == "db down");
  for (int i = 0; i < 50; ++i) log::Access("request", {{"i", i}});
  log::Info("last");
  log::StopAsync();
  lines = captured.Lines();
  REQUIRE(lines.size() == 52);
  CHECK(ParseLine(lines[50]).at("i").as_int64() == 49);
  CHECK(ParseLine(lines[51]).at("msg").as_string() == "last");
  // Inline again: a line is out when Write returns.
  log::Info("inline");
  CHECK(captured.Lines().size() == 53);
}
