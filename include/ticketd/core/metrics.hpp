#pragma once
// Metrics on prometheus-cpp (Debian's prometheus-cpp-dev 1.0.1: its registry,
// metric types and text exposition, version 0.0.4), behind the small API every
// module uses: counters, gauges and histograms with labels, collectors run at
// scrape time, and series removal. Thread-safe; a returned series reference
// stays valid until that series is removed (or the registry dies), so hot
// paths look a series up once and keep the reference.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace ticketd::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Inc(double v = 1.0) noexcept;
  [[nodiscard]] double Value() const noexcept;

 private:
  friend class Registry;
  explicit Counter(prometheus::Counter& c) : c_(&c) {}
  prometheus::Counter* c_;
};

class Gauge {
 public:
  void Set(double v) noexcept;
  void Add(double v) noexcept;
  [[nodiscard]] double Value() const noexcept;

 private:
  friend class Registry;
  explicit Gauge(prometheus::Gauge& g) : g_(&g) {}
  prometheus::Gauge* g_;
};

class Histogram {
 public:
  void Observe(double v) noexcept;
  struct Snapshot {
    std::vector<double> bounds;
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    std::uint64_t count = 0;
  };
  [[nodiscard]] Snapshot Snap() const;

 private:
  friend class Registry;
  explicit Histogram(prometheus::Histogram& h) : h_(&h) {}
  prometheus::Histogram* h_;
};

/// Default latency buckets in seconds (0.5 ms … 10 s).
std::vector<double> LatencyBuckets();

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  /// The series `name{labels}`, made on first use. Asking for a name already
  /// registered as another kind throws std::logic_error.
  Counter& GetCounter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& GetGauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& GetHistogram(const std::string& name, const std::string& help, const Labels& labels = {},
                          std::vector<double> bounds = LatencyBuckets());
  /// Drops the series `name{labels}` from the exposition (e.g. a waiting
  /// room's gauges once the room is gone); references to it become invalid.
  /// Returns whether it existed.
  bool Remove(const std::string& name, const Labels& labels);
  /// A callback run at every scrape, to refresh gauges derived from other state.
  void OnCollect(std::function<void()> fn);
  /// Text exposition of every series: families sorted by name, series by labels.
  [[nodiscard]] std::string Render() const;

 private:
  enum class Kind { kCounter, kGauge, kHistogram };
  struct Family;
  Family& FamilyFor(const std::string& name, Kind kind, const std::string& help);

  std::shared_ptr<prometheus::Registry> registry_;
  mutable std::shared_mutex mu_;
  std::map<std::string, std::unique_ptr<Family>> families_;
  std::vector<std::function<void()>> collectors_;
};

/// Registers process_* metrics (RSS, CPU, open fds, start time) from /proc
/// (prometheus-cpp 1.0 has no process collector).
void RegisterProcessMetrics(Registry& registry);

}  // namespace ticketd::metrics
