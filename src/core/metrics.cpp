#include "ticketd/core/metrics.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <utility>

namespace ticketd::metrics {

namespace {

void AtomicAdd(std::atomic<double>& target, double v) noexcept {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + v, std::memory_order_relaxed,
                                       std::memory_order_relaxed)) {
  }
}

// Prometheus spells the special values NaN, +Inf and -Inf; everything else is
// the shortest representation that round-trips (3, 0.005, 1e+20).
void AppendNumber(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    fmt::format_to(std::back_inserter(out), "{}", v);
  }
}

void AppendNumber(std::string& out, std::uint64_t v) { fmt::format_to(std::back_inserter(out), "{}", v); }

void AppendEscapedLabelValue(std::string& out, std::string_view value) {
  for (const char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

void AppendEscapedHelp(std::string& out, std::string_view help) {
  for (const char c : help) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

// `{a="x",b="y"}` (nothing at all for no labels); `le`, when given, goes last.
void AppendLabels(std::string& out, const Labels& labels, const std::string* le = nullptr) {
  if (labels.empty() && le == nullptr) return;
  out += '{';
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out += ',';
    first = false;
    out += name;
    out += "=\"";
    AppendEscapedLabelValue(out, value);
    out += '"';
  }
  if (le != nullptr) {
    if (!first) out += ',';
    out += "le=\"";
    out += *le;
    out += '"';
  }
  out += '}';
}

void AppendSample(std::string& out, std::string_view name, std::string_view suffix, const Labels& labels,
                  const std::string* le, auto value) {
  out += name;
  out += suffix;
  AppendLabels(out, labels, le);
  out += ' ';
  AppendNumber(out, value);
  out += '\n';
}

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

}  // namespace

void Counter::Inc(double v) noexcept { AtomicAdd(value_, v); }

void Gauge::Add(double v) noexcept { AtomicAdd(value_, v); }

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  std::sort(bounds_.begin(), bounds_.end());
  bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
  if (!bounds_.empty() && std::isinf(bounds_.back()) && bounds_.back() > 0) bounds_.pop_back();
  buckets_ = std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1);
}

void Histogram::Observe(double v) noexcept {
  // Bucket i counts observations in (bounds_[i-1], bounds_[i]]; the last one is +Inf.
  const auto index = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[index].fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(sum_, v);
  count_.fetch_add(1, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Snap() const {
  Snapshot snap;
  snap.bounds = bounds_;
  snap.cumulative.reserve(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    snap.cumulative.push_back(running);
  }
  snap.sum = sum_.load(std::memory_order_relaxed);
  // The count is taken from the buckets, not count_, so that `_count` always
  // equals the +Inf bucket even while other threads observe.
  snap.count = running;
  return snap;
}

std::vector<double> LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

Registry::Family& Registry::FamilyFor(const std::string& name, Kind kind, const std::string& help) {
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    it->second.kind = kind;
    it->second.help = help;
  } else if (it->second.kind != kind) {
    throw std::logic_error(fmt::format("metric {} is already registered as a {}, not a {}", name,
                                       KindName(static_cast<int>(it->second.kind)),
                                       KindName(static_cast<int>(kind))));
  }
  return it->second;
}

namespace {

// The common path of Get*: a shared lock when the series exists, an exclusive
// one to create it. `series_of` picks the family's map for the kind.
template <typename T, typename SeriesOf, typename Make, typename Family, typename FamilyFor>
T& GetOrCreate(std::shared_mutex& mu, const std::map<std::string, Family>& families, const std::string& name,
               int kind, const Labels& labels, SeriesOf series_of, FamilyFor family_for, Make make) {
  {
    std::shared_lock lock(mu);
    if (const auto fam = families.find(name); fam != families.end()) {
      if (static_cast<int>(fam->second.kind) == kind) {
        const auto& series = series_of(fam->second);
        if (const auto it = series.find(labels); it != series.end()) return *it->second;
      }
      // A kind mismatch falls through to FamilyFor, which throws.
    }
  }
  std::unique_lock lock(mu);
  auto& series = series_of(family_for());
  auto [it, inserted] = series.try_emplace(labels);
  if (inserted) it->second = make();
  return *it->second;
}

}  // namespace

Counter& Registry::GetCounter(const std::string& name, const std::string& help, const Labels& labels) {
  return GetOrCreate<Counter>(
      mu_, families_, name, static_cast<int>(Kind::kCounter), labels,
      [](auto& family) -> auto& { return family.counters; },
      [&]() -> Family& { return FamilyFor(name, Kind::kCounter, help); },
      [] { return std::make_unique<Counter>(); });
}

Gauge& Registry::GetGauge(const std::string& name, const std::string& help, const Labels& labels) {
  return GetOrCreate<Gauge>(
      mu_, families_, name, static_cast<int>(Kind::kGauge), labels,
      [](auto& family) -> auto& { return family.gauges; },
      [&]() -> Family& { return FamilyFor(name, Kind::kGauge, help); },
      [] { return std::make_unique<Gauge>(); });
}

Histogram& Registry::GetHistogram(const std::string& name, const std::string& help, const Labels& labels,
                                  std::vector<double> bounds) {
  return GetOrCreate<Histogram>(
      mu_, families_, name, static_cast<int>(Kind::kHistogram), labels,
      [](auto& family) -> auto& { return family.histograms; },
      [&]() -> Family& { return FamilyFor(name, Kind::kHistogram, help); },
      [&] { return std::make_unique<Histogram>(std::move(bounds)); });
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

  std::string out;
  std::shared_lock lock(mu_);
  for (const auto& [name, family] : families_) {
    out += "# HELP ";
    out += name;
    out += ' ';
    AppendEscapedHelp(out, family.help);
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += KindName(static_cast<int>(family.kind));
    out += '\n';
    switch (family.kind) {
      case Kind::kCounter:
        for (const auto& [labels, counter] : family.counters) {
          AppendSample(out, name, "", labels, nullptr, counter->Value());
        }
        break;
      case Kind::kGauge:
        for (const auto& [labels, gauge] : family.gauges) {
          AppendSample(out, name, "", labels, nullptr, gauge->Value());
        }
        break;
      case Kind::kHistogram:
        for (const auto& [labels, histogram] : family.histograms) {
          const auto snap = histogram->Snap();
          std::string le;
          for (std::size_t i = 0; i < snap.cumulative.size(); ++i) {
            le.clear();
            AppendNumber(le, i < snap.bounds.size() ? snap.bounds[i] : std::numeric_limits<double>::infinity());
            AppendSample(out, name, "_bucket", labels, &le, snap.cumulative[i]);
          }
          AppendSample(out, name, "_sum", labels, nullptr, snap.sum);
          AppendSample(out, name, "_count", labels, nullptr, snap.count);
        }
        break;
    }
  }
  return out;
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
