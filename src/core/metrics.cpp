#include "ticketd/core/metrics.hpp"

#include <fmt/format.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <unistd.h>

#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <tuple>
#include <utility>

namespace ticketd::metrics {

namespace {

prometheus::Labels ToPrometheus(const Labels& labels) { return prometheus::Labels(labels.begin(), labels.end()); }

std::string_view KindName(int kind) {
  switch (kind) {
    case 0:
      return "counter";
    case 1:
      return "gauge";
    default:
      return "histogram";
  }
}

// Sorted, without duplicates or a trailing +Inf (prometheus-cpp adds its own).
std::vector<double> NormalBounds(std::vector<double> bounds) {
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  if (!bounds.empty() && std::isinf(bounds.back()) && bounds.back() > 0) bounds.pop_back();
  return bounds;
}

// The exposition's HELP escaping (backslash and newline), which prometheus-cpp
// 1.0.1's text serializer leaves to the caller (label values it escapes).
std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (const char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

void Counter::Inc(double v) noexcept { c_->Increment(v); }
double Counter::Value() const noexcept { return c_->Value(); }

void Gauge::Set(double v) noexcept { g_->Set(v); }
void Gauge::Add(double v) noexcept { g_->Increment(v); }
double Gauge::Value() const noexcept { return g_->Value(); }

void Histogram::Observe(double v) noexcept { h_->Observe(v); }

Histogram::Snapshot Histogram::Snap() const {
  const auto collected = h_->Collect().histogram;
  Snapshot snap;
  for (const auto& bucket : collected.bucket) {
    if (!std::isinf(bucket.upper_bound)) snap.bounds.push_back(bucket.upper_bound);
    snap.cumulative.push_back(bucket.cumulative_count);
  }
  snap.sum = collected.sample_sum;
  snap.count = collected.sample_count;
  return snap;
}

std::vector<double> LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

struct Registry::Family {
  Kind kind{};
  prometheus::Family<prometheus::Counter>* counters = nullptr;
  prometheus::Family<prometheus::Gauge>* gauges = nullptr;
  prometheus::Family<prometheus::Histogram>* histograms = nullptr;
  std::map<Labels, std::unique_ptr<Counter>> counter_series;
  std::map<Labels, std::unique_ptr<Gauge>> gauge_series;
  std::map<Labels, std::unique_ptr<Histogram>> histogram_series;
};

Registry::Registry() : registry_(std::make_shared<prometheus::Registry>()) {}
Registry::~Registry() = default;

Registry::Family& Registry::FamilyFor(const std::string& name, Kind kind, const std::string& help) {
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    try {
      auto family = std::make_unique<Family>();
      family->kind = kind;
      switch (kind) {
        case Kind::kCounter:
          family->counters = &prometheus::BuildCounter().Name(name).Help(EscapeHelp(help)).Register(*registry_);
          break;
        case Kind::kGauge:
          family->gauges = &prometheus::BuildGauge().Name(name).Help(EscapeHelp(help)).Register(*registry_);
          break;
        case Kind::kHistogram:
          family->histograms = &prometheus::BuildHistogram().Name(name).Help(EscapeHelp(help)).Register(*registry_);
          break;
      }
      it->second = std::move(family);
    } catch (...) {
      families_.erase(it);
      throw;
    }
  } else if (it->second->kind != kind) {
    throw std::logic_error(fmt::format("metric {} is already registered as a {}, not a {}", name,
                                       KindName(static_cast<int>(it->second->kind)),
                                       KindName(static_cast<int>(kind))));
  }
  return *it->second;
}

namespace {

// The common path of Get*: a shared lock when the series exists, an exclusive
// one to create it.
template <typename T, typename Families, typename SeriesOf, typename Create>
T& Lookup(std::shared_mutex& mu, const Families& families, const std::string& name, int kind, const Labels& labels,
          SeriesOf series_of, Create create) {
  {
    std::shared_lock lock(mu);
    if (const auto fam = families.find(name); fam != families.end() && static_cast<int>(fam->second->kind) == kind) {
      const auto& series = series_of(*fam->second);
      if (const auto it = series.find(labels); it != series.end()) return *it->second;
    }
    // A kind mismatch falls through to FamilyFor, which throws.
  }
  std::unique_lock lock(mu);
  return create();
}

}  // namespace

Counter& Registry::GetCounter(const std::string& name, const std::string& help, const Labels& labels) {
  return Lookup<Counter>(mu_, families_, name, static_cast<int>(Kind::kCounter), labels,
                         [](const Family& f) -> const auto& { return f.counter_series; },
                         [&]() -> Counter& {
                           Family& f = FamilyFor(name, Kind::kCounter, help);
                           auto [it, inserted] = f.counter_series.try_emplace(labels);
                           if (inserted) it->second.reset(new Counter(f.counters->Add(ToPrometheus(labels))));
                           return *it->second;
                         });
}

Gauge& Registry::GetGauge(const std::string& name, const std::string& help, const Labels& labels) {
  return Lookup<Gauge>(mu_, families_, name, static_cast<int>(Kind::kGauge), labels,
                       [](const Family& f) -> const auto& { return f.gauge_series; },
                       [&]() -> Gauge& {
                         Family& f = FamilyFor(name, Kind::kGauge, help);
                         auto [it, inserted] = f.gauge_series.try_emplace(labels);
                         if (inserted) it->second.reset(new Gauge(f.gauges->Add(ToPrometheus(labels))));
                         return *it->second;
                       });
}

Histogram& Registry::GetHistogram(const std::string& name, const std::string& help, const Labels& labels,
                                  std::vector<double> bounds) {
  return Lookup<Histogram>(
      mu_, families_, name, static_cast<int>(Kind::kHistogram), labels,
      [](const Family& f) -> const auto& { return f.histogram_series; },
      [&]() -> Histogram& {
        Family& f = FamilyFor(name, Kind::kHistogram, help);
        auto [it, inserted] = f.histogram_series.try_emplace(labels);
        if (inserted) {
          it->second.reset(new Histogram(f.histograms->Add(ToPrometheus(labels), NormalBounds(std::move(bounds)))));
        }
        return *it->second;
      });
}

bool Registry::Remove(const std::string& name, const Labels& labels) {
  std::unique_lock lock(mu_);
  const auto fam = families_.find(name);
  if (fam == families_.end()) return false;
  Family& f = *fam->second;
  const auto drop = [&labels](auto& series, auto* family, auto member) {
    const auto it = series.find(labels);
    if (it == series.end()) return false;
    family->Remove((*it->second).*member);
    series.erase(it);
    return true;
  };
  switch (f.kind) {
    case Kind::kCounter:
      return drop(f.counter_series, f.counters, &Counter::c_);
    case Kind::kGauge:
      return drop(f.gauge_series, f.gauges, &Gauge::g_);
    case Kind::kHistogram:
      return drop(f.histogram_series, f.histograms, &Histogram::h_);
  }
  return false;
}

void Registry::OnCollect(std::function<void()> fn) {
  std::unique_lock lock(mu_);
  collectors_.push_back(std::move(fn));
}

std::string Registry::Render() const {
  std::vector<std::function<void()>> collectors;
  {
    std::shared_lock lock(mu_);
    collectors = collectors_;
  }
  for (const auto& collect : collectors) collect();

  auto families = registry_->Collect();
  // Stable output for people and diffs: families by name, series by labels.
  std::sort(families.begin(), families.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  for (auto& family : families) {
    std::sort(family.metric.begin(), family.metric.end(), [](const auto& a, const auto& b) {
      return std::lexicographical_compare(a.label.begin(), a.label.end(), b.label.begin(), b.label.end(),
                                          [](const auto& x, const auto& y) {
                                            return std::tie(x.name, x.value) < std::tie(y.name, y.value);
                                          });
    });
  }
  return prometheus::TextSerializer().Serialize(families);
}

namespace {

struct ProcStat {
  double cpu_seconds = 0;
  double start_time_seconds = 0;
  double virtual_bytes = 0;
  double resident_bytes = 0;
};

double BootTimeSeconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  while (in >> key) {
    if (key == "btime") {
      double btime = 0;
      in >> btime;
      return btime;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return 0;
}

bool ReadProcStat(ProcStat& out) {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  // Field 2 (comm) is parenthesised and may contain spaces: start after it.
  const auto close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream fields(line.substr(close + 1));
  std::vector<std::string> rest;  // rest[0] is field 3 (state)
  for (std::string field; fields >> field;) rest.push_back(std::move(field));
  auto field = [&](std::size_t number) { return std::stod(rest.at(number - 3)); };
  try {
    static const double kTicks = static_cast<double>(sysconf(_SC_CLK_TCK));
    static const double kPageSize = static_cast<double>(sysconf(_SC_PAGESIZE));
    static const double kBootTime = BootTimeSeconds();
    out.cpu_seconds = (field(14) + field(15)) / kTicks;  // utime + stime
    out.start_time_seconds = kBootTime + field(22) / kTicks;
    out.virtual_bytes = field(23);
    out.resident_bytes = field(24) * kPageSize;
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

double CountOpenFds() {
  std::error_code ec;
  double count = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) {
    ++count;
  }
  return count;
}

double MaxFds() {
  std::ifstream in("/proc/self/limits");
  for (std::string line; std::getline(in, line);) {
    constexpr std::string_view kPrefix = "Max open files";
    if (!line.starts_with(kPrefix)) continue;
    std::istringstream fields(line.substr(kPrefix.size()));
    std::string soft;
    fields >> soft;
    if (soft == "unlimited") return std::numeric_limits<double>::infinity();
    try {
      return std::stod(soft);
    } catch (const std::exception&) {
      break;
    }
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  return limit.rlim_cur == RLIM_INFINITY ? std::numeric_limits<double>::infinity()
                                         : static_cast<double>(limit.rlim_cur);
}

}  // namespace

void RegisterProcessMetrics(Registry& registry) {
  auto& resident = registry.GetGauge("process_resident_memory_bytes", "Resident memory size in bytes.");
  auto& virtual_memory = registry.GetGauge("process_virtual_memory_bytes", "Virtual memory size in bytes.");
  auto& open_fds = registry.GetGauge("process_open_fds", "Number of open file descriptors.");
  auto& max_fds = registry.GetGauge("process_max_fds", "Maximum number of open file descriptors.");
  auto& start_time =
      registry.GetGauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.");
  auto& cpu = registry.GetCounter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.");

  registry.OnCollect([&resident, &virtual_memory, &open_fds, &max_fds, &start_time, &cpu] {
    // Serialises concurrent scrapes so each CPU delta is added exactly once.
    static std::mutex cpu_mu;
    ProcStat stat;
    if (ReadProcStat(stat)) {
      resident.Set(stat.resident_bytes);
      virtual_memory.Set(stat.virtual_bytes);
      start_time.Set(stat.start_time_seconds);
      std::lock_guard lock(cpu_mu);
      if (const double delta = stat.cpu_seconds - cpu.Value(); delta > 0) cpu.Inc(delta);
    }
    open_fds.Set(CountOpenFds());
    max_fds.Set(MaxFds());
  });
}

}  // namespace ticketd::metrics
