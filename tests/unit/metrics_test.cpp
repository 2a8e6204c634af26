#include "ticketd/core/metrics.hpp"

#include <doctest/doctest.h>

#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using ticketd::metrics::Labels;
using ticketd::metrics::Registry;

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The value of the first sample line that starts with `series ` (name plus labels).
std::string SampleValue(const std::string& text, const std::string& series) {
  for (const auto& line : Lines(text)) {
    if (line.starts_with(series + " ")) return line.substr(series.size() + 1);
  }
  return "<missing " + series + ">";
}

}  // namespace

TEST_CASE("metrics: counter exposition") {
  Registry registry;
  auto& plain = registry.GetCounter("requests_total", "Requests served.");
  plain.Inc();
  plain.Inc(2);
  registry.GetCounter("requests_total", "Requests served.", {{"route", "/b"}, {"status", "200"}}).Inc(0.5);

  const auto lines = Lines(registry.Render());
  REQUIRE(lines.size() == 4);
  CHECK(lines[0] == "# HELP requests_total Requests served.");
  CHECK(lines[1] == "# TYPE requests_total counter");
  CHECK(lines[2] == "requests_total 3");
  CHECK(lines[3] == "requests_total{route=\"/b\",status=\"200\"} 0.5");
}

TEST_CASE("metrics: gauge exposition and number formatting") {
  Registry registry;
  auto& gauge = registry.GetGauge("temperature", "Current temperature.");
  gauge.Set(10);
  gauge.Add(-2.5);
  CHECK(gauge.Value() == doctest::Approx(7.5));
  registry.GetGauge("values", "Assorted values.", {{"v", "small"}}).Set(0.005);
  registry.GetGauge("values", "Assorted values.", {{"v", "int"}}).Set(42);
  registry.GetGauge("values", "Assorted values.", {{"v", "zero"}}).Set(0);
  registry.GetGauge("values", "Assorted values.", {{"v", "neg"}}).Set(-3);

  const auto text = registry.Render();
  CHECK(Contains(text, "# TYPE temperature gauge\ntemperature 7.5\n"));
  CHECK(SampleValue(text, "values{v=\"small\"}") == "0.005");
  CHECK(SampleValue(text, "values{v=\"int\"}") == "42");
  CHECK(SampleValue(text, "values{v=\"zero\"}") == "0");
  CHECK(SampleValue(text, "values{v=\"neg\"}") == "-3");
}

TEST_CASE("metrics: families are sorted by name with HELP and TYPE once each") {
  Registry registry;
  registry.GetGauge("zeta", "Last.").Set(1);
  registry.GetCounter("alpha_total", "First.", {{"k", "a"}}).Inc();
  registry.GetCounter("alpha_total", "First.", {{"k", "b"}}).Inc();
  registry.GetGauge("mid", "Middle.").Set(1);

  const auto text = registry.Render();
  const auto alpha = text.find("# HELP alpha_total");
  const auto mid = text.find("# HELP mid");
  const auto zeta = text.find("# HELP zeta");
  REQUIRE(alpha != std::string::npos);
  REQUIRE(mid != std::string::npos);
  REQUIRE(zeta != std::string::npos);
  CHECK(alpha < mid);
  CHECK(mid < zeta);

  int help_lines = 0;
  int type_lines = 0;
  for (const auto& line : Lines(text)) {
    if (line.starts_with("# HELP alpha_total")) ++help_lines;
    if (line.starts_with("# TYPE alpha_total")) ++type_lines;
  }
  CHECK(help_lines == 1);
  CHECK(type_lines == 1);
  CHECK(SampleValue(text, "alpha_total{k=\"a\"}") == "1");
  CHECK(SampleValue(text, "alpha_total{k=\"b\"}") == "1");
}

TEST_CASE("metrics: label values and help text are escaped") {
  Registry registry;
  registry.GetCounter("escapes_total", "Help with \\ and\nnewline.", {{"path", "a\\b\"c\nd"}}).Inc();

  const auto text = registry.Render();
  CHECK(Contains(text, "# HELP escapes_total Help with \\\\ and\\nnewline.\n"));
  CHECK(Contains(text, "escapes_total{path=\"a\\\\b\\\"c\\nd\"} 1\n"));
}

TEST_CASE("metrics: histogram buckets are cumulative with +Inf, sum and count") {
  Registry registry;
  auto& histogram = registry.GetHistogram("latency_seconds", "Latency.", {{"route", "x"}}, {0.1, 1, 5});
  for (const double v : {0.05, 0.1, 0.5, 0.7, 3.0, 100.0}) histogram.Observe(v);

  const auto snap = histogram.Snap();
  CHECK(snap.cumulative == std::vector<std::uint64_t>{2, 4, 5, 6});
  CHECK(snap.count == 6);
  CHECK(snap.sum == doctest::Approx(104.35));

  const auto text = registry.Render();
  const auto lines = Lines(text);
  REQUIRE(lines.size() == 8);
  CHECK(lines[0] == "# HELP latency_seconds Latency.");
  CHECK(lines[1] == "# TYPE latency_seconds histogram");
  // prometheus-cpp writes _count and _sum before the buckets (any order is valid).
  CHECK(SampleValue(text, "latency_seconds_bucket{route=\"x\",le=\"0.1\"}") == "2");
  CHECK(SampleValue(text, "latency_seconds_bucket{route=\"x\",le=\"1\"}") == "4");
  CHECK(SampleValue(text, "latency_seconds_bucket{route=\"x\",le=\"5\"}") == "5");
  CHECK(SampleValue(text, "latency_seconds_bucket{route=\"x\",le=\"+Inf\"}") == "6");
  CHECK(SampleValue(text, "latency_seconds_sum{route=\"x\"}").starts_with("104.35"));
  CHECK(SampleValue(text, "latency_seconds_count{route=\"x\"}") == "6");
}

TEST_CASE("metrics: histogram without labels and default latency buckets") {
  Registry registry;
  auto& histogram = registry.GetHistogram("op_seconds", "Op latency.");
  histogram.Observe(0.003);

  const auto buckets = ticketd::metrics::LatencyBuckets();
  REQUIRE(buckets.size() == 14);
  CHECK(buckets.front() == 0.0005);
  CHECK(buckets.back() == 10);

  const auto text = registry.Render();
  CHECK(SampleValue(text, "op_seconds_bucket{le=\"0.0005\"}") == "0");
  CHECK(SampleValue(text, "op_seconds_bucket{le=\"0.0025\"}") == "0");
  CHECK(SampleValue(text, "op_seconds_bucket{le=\"0.005\"}") == "1");
  CHECK(SampleValue(text, "op_seconds_bucket{le=\"10\"}") == "1");
  CHECK(SampleValue(text, "op_seconds_bucket{le=\"+Inf\"}") == "1");
  CHECK(SampleValue(text, "op_seconds_sum") == "0.003");
  CHECK(SampleValue(text, "op_seconds_count") == "1");
}

TEST_CASE("metrics: the same name and labels return the same series") {
  Registry registry;
  const Labels labels{{"module", "auth"}};
  auto& a = registry.GetCounter("calls_total", "Calls.", labels);
  auto& b = registry.GetCounter("calls_total", "Calls.", labels);
  auto& other = registry.GetCounter("calls_total", "Calls.", {{"module", "queue"}});
  CHECK(&a == &b);
  CHECK(&a != &other);
  CHECK(&registry.GetGauge("g", "G.") == &registry.GetGauge("g", "G."));
  CHECK(&registry.GetHistogram("h", "H.") == &registry.GetHistogram("h", "H."));
  a.Inc();
  b.Inc();
  CHECK(a.Value() == 2);
}

TEST_CASE("metrics: asking for an existing name with another kind throws") {
  Registry registry;
  registry.GetCounter("thing", "A counter.");
  CHECK_THROWS_AS(registry.GetGauge("thing", "A gauge."), std::logic_error);
  CHECK_THROWS_AS(registry.GetHistogram("thing", "A histogram.", {{"new", "labels"}}), std::logic_error);
  registry.GetGauge("level", "A gauge.");
  CHECK_THROWS_AS(registry.GetCounter("level", "A counter."), std::logic_error);
  CHECK_NOTHROW(registry.GetCounter("thing", "A counter.", {{"k", "v"}}));
}

TEST_CASE("metrics: concurrent increments from 4 threads sum exactly") {
  Registry registry;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100'000;
  auto& histogram = registry.GetHistogram("work_seconds", "Work.", {}, {0.5});
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&registry, &histogram, t] {
      // Half the threads look the series up on every call, to race creation too.
      auto& counter = registry.GetCounter("hits_total", "Hits.");
      for (int i = 0; i < kPerThread; ++i) {
        if (t % 2 == 0) {
          counter.Inc();
        } else {
          registry.GetCounter("hits_total", "Hits.").Inc();
        }
        registry.GetGauge("balance", "Balance.").Add(1);
        histogram.Observe(t % 2 == 0 ? 0.25 : 1.0);
      }
    });
  }
  for (auto& thread : threads) thread.join();

  constexpr double kTotal = static_cast<double>(kThreads) * kPerThread;
  CHECK(registry.GetCounter("hits_total", "Hits.").Value() == kTotal);
  CHECK(registry.GetGauge("balance", "Balance.").Value() == kTotal);
  const auto snap = histogram.Snap();
  CHECK(snap.count == static_cast<std::uint64_t>(kTotal));
  CHECK(snap.cumulative.front() == static_cast<std::uint64_t>(kTotal / 2));
  CHECK(snap.sum == doctest::Approx(kTotal / 2 * 0.25 + kTotal / 2 * 1.0));
  CHECK(SampleValue(registry.Render(), "hits_total") == "400000");
}

TEST_CASE("metrics: collectors run at render and may create series") {
  Registry registry;
  int calls = 0;
  registry.OnCollect([&registry, &calls] {
    ++calls;
    registry.GetGauge("queue_depth", "Depth.").Set(calls * 10);
  });
  CHECK(SampleValue(registry.Render(), "queue_depth") == "10");
  CHECK(SampleValue(registry.Render(), "queue_depth") == "20");
  CHECK(calls == 2);
}

TEST_CASE("metrics: process metrics present after RegisterProcessMetrics") {
  Registry registry;
  ticketd::metrics::RegisterProcessMetrics(registry);
  // Burn a little CPU so the CPU counter is visibly positive.
  volatile double sink = 0;
  for (int i = 0; i < 20'000'000; ++i) sink = sink + i * 0.5;

  const auto text = registry.Render();
  for (const char* name : {"process_resident_memory_bytes", "process_virtual_memory_bytes", "process_open_fds",
                           "process_max_fds", "process_start_time_seconds"}) {
    INFO(name);
    CHECK(Contains(text, std::string("# TYPE ") + name + " gauge\n"));
    const auto value = SampleValue(text, name);
    CHECK_MESSAGE(std::stod(value) > 0, value);
  }
  CHECK(Contains(text, "# TYPE process_cpu_seconds_total counter\n"));
  const double cpu = std::stod(SampleValue(text, "process_cpu_seconds_total"));
  CHECK(cpu > 0);
  CHECK(std::stod(SampleValue(text, "process_start_time_seconds")) > 1.5e9);

  // A second scrape never moves the counter backwards.
  const auto again = registry.Render();
  CHECK(std::stod(SampleValue(again, "process_cpu_seconds_total")) >= cpu);
}

TEST_CASE("metrics: a removed series leaves the exposition, and asking again makes a fresh one") {
  Registry registry;
  registry.GetGauge("room_waiting", "Waiting.", {{"event_id", "a"}}).Set(3);
  registry.GetGauge("room_waiting", "Waiting.", {{"event_id", "b"}}).Set(4);
  CHECK(registry.Remove("room_waiting", {{"event_id", "a"}}));
  CHECK_FALSE(registry.Remove("room_waiting", {{"event_id", "a"}}));
  CHECK_FALSE(registry.Remove("no_such_metric", {}));
  auto text = registry.Render();
  CHECK_FALSE(Contains(text, "event_id=\"a\""));
  CHECK(SampleValue(text, "room_waiting{event_id=\"b\"}") == "4");
  CHECK(registry.GetGauge("room_waiting", "Waiting.", {{"event_id", "a"}}).Value() == 0);
  text = registry.Render();
  CHECK(SampleValue(text, "room_waiting{event_id=\"a\"}") == "0");
}
