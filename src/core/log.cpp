#include "ticketd/core/log.hpp"

#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include <cmath>
#include <boost/json/value.hpp>

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

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

// ---- the background writer ----

struct AsyncWriter::State {
  std::function<void(std::string_view)> out;
  std::size_t shed_above = 0;
  mutable std::mutex mu;
  std::condition_variable wake;     // the writer waits for lines
  std::condition_variable written;  // Flush waits for the writer
  std::vector<std::string> queue;
  std::uint64_t pushed = 0;   // lines queued so far (not the dropped ones)
  std::uint64_t done = 0;     // lines handed to `out` so far
  std::uint64_t dropped = 0;
  bool stop = false;
  bool urgent = false;  // a line that must not wait for the batch, or a Flush
  std::thread thread;

  static constexpr std::size_t kWakeAt = 1024;
  static constexpr std::chrono::milliseconds kBatchWait{10};

  void Run() {
    std::vector<std::string> batch;
    std::string chunk;
    for (;;) {
      {
        std::unique_lock lock(mu);
        // Access lines do not wake the writer one by one (a futex wake per
        // request costs more than the write): it looks every kBatchWait, or
        // at once for any other line, a Flush, or a full batch.
        wake.wait_for(lock, kBatchWait, [&] { return stop || urgent || queue.size() >= kWakeAt; });
        if (queue.empty()) {
          if (stop) return;  // stopping, and drained
          continue;
        }
        batch.swap(queue);
        urgent = false;
      }
      // One write for everything that queued since the last one.
      chunk.clear();
      for (const auto& line : batch) {
        chunk += line;
        chunk += '\n';
      }
      out(chunk);
      {
        std::lock_guard lock(mu);
        done += batch.size();
      }
      written.notify_all();
      batch.clear();
    }
  }
};

AsyncWriter::AsyncWriter(std::function<void(std::string_view)> out, std::size_t shed_above) : state_(new State) {
  state_->out = std::move(out);
  state_->shed_above = shed_above;
  state_->thread = std::thread([s = state_] { s->Run(); });
}

AsyncWriter::~AsyncWriter() {
  {
    std::lock_guard lock(state_->mu);
    state_->stop = true;
  }
  state_->wake.notify_one();
  state_->thread.join();
  delete state_;
}

void AsyncWriter::Push(std::string line, bool sheddable) {
  bool wake = false;
  {
    std::lock_guard lock(state_->mu);
    if (sheddable && state_->queue.size() >= state_->shed_above) {
      ++state_->dropped;
      return;
    }
    state_->queue.push_back(std::move(line));
    ++state_->pushed;
    if (!sheddable) state_->urgent = true;
    wake = !sheddable || state_->queue.size() == State::kWakeAt;
  }
  if (wake) state_->wake.notify_one();
}

void AsyncWriter::Flush() {
  std::unique_lock lock(state_->mu);
  const auto target = state_->pushed;
  if (state_->done >= target) return;
  state_->urgent = true;
  state_->wake.notify_one();
  state_->written.wait(lock, [&] { return state_->done >= target; });
}

Stats AsyncWriter::GetStats() const {
  std::lock_guard lock(state_->mu);
  return Stats{state_->done, state_->dropped, state_->queue.size()};
}

namespace {

std::atomic<std::uint64_t> g_inline_written{0};
std::atomic<AsyncWriter*> g_async{nullptr};    // set while async
std::atomic<AsyncWriter*> g_process{nullptr};  // the process's writer, once made

/// `chunk` is one or more lines, each ending in '\n'.
void Output(std::string_view chunk) {
  std::lock_guard lock(SinkMutex());
  if (const auto& sink = Sink()) {
    while (!chunk.empty()) {
      const auto nl = chunk.find('\n');
      sink(chunk.substr(0, nl));
      chunk.remove_prefix(nl == std::string_view::npos ? chunk.size() : nl + 1);
    }
    return;
  }
  std::fflush(stdout);  // keeps order with anything printed through stdio
  WriteStdout(chunk);
}

/// The process's writer: made on the first StartAsync and never destroyed
/// (a line may be logged from any thread until the process ends); exit
/// flushes it.
AsyncWriter& ProcessWriter(std::size_t shed_above) {
  static AsyncWriter* writer = [shed_above] {
    auto* w = new AsyncWriter(Output, shed_above);
    g_process.store(w, std::memory_order_release);
    std::atexit([] { g_process.load(std::memory_order_acquire)->Flush(); });
    return w;
  }();
  return *writer;
}

std::string Format(Level level, std::string_view msg, boost::json::object& fields) {
  boost::json::object line(fields.storage());
  line.reserve(fields.size() + 3);
  line.emplace("ts", Timestamp(std::chrono::system_clock::now()));
  line.emplace("level", LevelName(level));
  line.emplace("msg", msg);
  // A field named ts/level/msg does not replace the envelope's.
  for (auto& field : fields) line.emplace(field.key(), std::move(field.value()));
  return Serialize(line);
}

void Emit(Level level, std::string text, bool sheddable) {
  if (AsyncWriter* async = g_async.load(std::memory_order_acquire)) {
    async->Push(std::move(text), sheddable);
    // An error line is on stdout before the caller goes on (a crash right
    // after it must not take it along).
    if (level == Level::kError) async->Flush();
    return;
  }
  text += '\n';
  Output(text);
  g_inline_written.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

void Write(Level level, std::string_view msg, boost::json::object fields) {
  if (!Enabled(level)) return;
  Emit(level, Format(level, msg, fields), false);
}

void Access(std::string_view msg, boost::json::object fields) {
  if (!Enabled(Level::kInfo)) return;
  Emit(Level::kInfo, Format(Level::kInfo, msg, fields), true);
}

void StartAsync(std::size_t shed_above) {
  g_async.store(&ProcessWriter(shed_above), std::memory_order_release);
}

void StopAsync() {
  AsyncWriter* async = g_async.exchange(nullptr, std::memory_order_acq_rel);
  if (async != nullptr) async->Flush();
}

void Flush() {
  if (AsyncWriter* writer = g_process.load(std::memory_order_acquire)) writer->Flush();
}

Stats GetStats() {
  Stats out;
  if (AsyncWriter* writer = g_process.load(std::memory_order_acquire)) out = writer->GetStats();
  out.written += g_inline_written.load(std::memory_order_relaxed);
  return out;
}

void SetSinkForTesting(std::function<void(std::string_view)> sink) {
  Flush();
  std::lock_guard lock(SinkMutex());
  Sink() = std::move(sink);
}

}  // namespace ticketd::log
