#include "ticketd/core/db.hpp"

#include <libpq-fe.h>

#include <pqxx/except>

#include <fmt/format.h>

#include <map>
#include <memory>
#include <random>
#include <stdexcept>

#include "ticketd/core/log.hpp"
#include "ticketd/core/metrics.hpp"

namespace ticketd::db {

namespace {

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// While the server is unreachable, jobs fail fast for this long after a failed
// connect instead of each paying a connect attempt.
constexpr std::int64_t kFailFastMs = 250;

std::string QuoteConninfoValue(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

}  // namespace

std::string RebuildConninfo(const std::string& conninfo, const std::map<std::string, std::string>& overrides) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (opts == nullptr) {
    std::string msg = err != nullptr ? err : "invalid connection string";
    if (err != nullptr) PQfreemem(err);
    throw std::invalid_argument("invalid Postgres connection string: " + msg);
  }
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> guard(opts, &PQconninfoFree);
  std::string out;
  for (auto* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || overrides.contains(o->keyword)) continue;
    out += std::string(o->keyword) + "=" + QuoteConninfoValue(o->val) + " ";
  }
  for (const auto& [key, value] : overrides) {
    if (!value.empty()) out += key + "=" + QuoteConninfoValue(value) + " ";
  }
  if (!out.empty()) out.pop_back();
  return out;
}

std::string WithCredentials(const std::string& conninfo, const std::string& user, const std::string& password) {
  return RebuildConninfo(conninfo, {{"user", user}, {"password", password}});
}

std::string SqlState(const pqxx::sql_error& error) {
  if (!error.sqlstate().empty()) return error.sqlstate();
  const auto* e = &error;
  if (dynamic_cast<const pqxx::serialization_failure*>(e) != nullptr) return "40001";
  if (dynamic_cast<const pqxx::deadlock_detected*>(e) != nullptr) return "40P01";
  if (dynamic_cast<const pqxx::statement_completion_unknown*>(e) != nullptr) return "40003";
  if (dynamic_cast<const pqxx::unique_violation*>(e) != nullptr) return "23505";
  if (dynamic_cast<const pqxx::foreign_key_violation*>(e) != nullptr) return "23503";
  if (dynamic_cast<const pqxx::not_null_violation*>(e) != nullptr) return "23502";
  if (dynamic_cast<const pqxx::check_violation*>(e) != nullptr) return "23514";
  if (dynamic_cast<const pqxx::restrict_violation*>(e) != nullptr) return "23001";
  if (dynamic_cast<const pqxx::insufficient_privilege*>(e) != nullptr) return "42501";
  if (dynamic_cast<const pqxx::undefined_table*>(e) != nullptr) return "42P01";
  if (dynamic_cast<const pqxx::undefined_column*>(e) != nullptr) return "42703";
  if (dynamic_cast<const pqxx::undefined_function*>(e) != nullptr) return "42883";
  if (dynamic_cast<const pqxx::syntax_error*>(e) != nullptr) return "42601";
  if (dynamic_cast<const pqxx::too_many_connections*>(e) != nullptr) return "53300";
  if (dynamic_cast<const pqxx::out_of_memory*>(e) != nullptr) return "53200";
  if (dynamic_cast<const pqxx::disk_full*>(e) != nullptr) return "53100";
  if (dynamic_cast<const pqxx::insufficient_resources*>(e) != nullptr) return "53000";
  if (dynamic_cast<const pqxx::integrity_constraint_violation*>(e) != nullptr) return "23000";
  return {};
}

std::exception_ptr Classify(std::exception_ptr error, const std::string& pool_name) {
  try {
    std::rethrow_exception(error);
  } catch (const pqxx::broken_connection& e) {
    return std::make_exception_ptr(DependencyUnavailable("postgres", pool_name + ": connection lost: " + e.what()));
  } catch (const pqxx::in_doubt_error& e) {
    return std::make_exception_ptr(
        DependencyUnavailable("postgres", pool_name + ": commit outcome unknown: " + e.what()));
  } catch (const pqxx::sql_error& e) {
    const std::string state = SqlState(e);
    // 57014 statement timeout, 57P0x admin shutdown / cannot connect now, 53xxx out of resources, 08xxx connection.
    if (state == "57014" || state.rfind("57P", 0) == 0 || state.rfind("53", 0) == 0 || state.rfind("08", 0) == 0) {
      return std::make_exception_ptr(DependencyUnavailable("postgres", pool_name + ": " + state + ": " + e.what()));
    }
    return error;
  } catch (...) {
    return error;
  }
}

Pool::Pool(PoolOptions options, metrics::Registry* registry) : options_(std::move(options)) {
  if (options_.size < 1) throw std::invalid_argument("pool size must be >= 1");
  if (registry != nullptr) {
    const metrics::Labels labels{{"pool", options_.name}};
    errors_ = &registry->GetCounter("ticketd_db_errors_total", "Postgres jobs failed for connectivity reasons", labels);
    auto& size = registry->GetGauge("ticketd_db_pool_size", "Configured connections per pool", labels);
    auto& busy = registry->GetGauge("ticketd_db_pool_busy", "Connections running a job", labels);
    auto& connected = registry->GetGauge("ticketd_db_pool_connected", "Open connections", labels);
    auto& queued = registry->GetGauge("ticketd_db_pool_queued", "Jobs waiting for a connection", labels);
    size.Set(options_.size);
    registry->OnCollect([this, &busy, &connected, &queued] {
      busy.Set(busy_.load());
      connected.Set(connected_.load());
      queued.Set(static_cast<double>(QueueDepth()));
    });
  }
  workers_.reserve(static_cast<std::size_t>(options_.size));
  for (int i = 0; i < options_.size; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

Pool::~Pool() { Stop(); }

void Pool::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && workers_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

std::size_t Pool::QueueDepth() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

bool Pool::Submit(Job job) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= options_.max_queue) return false;
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

bool Pool::IsRetryableConflict(const std::exception& e) {
  return dynamic_cast<const pqxx::serialization_failure*>(&e) != nullptr ||
         dynamic_cast<const pqxx::deadlock_detected*>(&e) != nullptr;
}

void Pool::Backoff(int attempt) {
  thread_local std::mt19937 rng{std::random_device{}()};
  const int cap_ms = std::min(100, 5 << std::min(attempt, 5));
  std::uniform_int_distribution<int> jitter(1, cap_ms);
  std::this_thread::sleep_for(std::chrono::milliseconds(jitter(rng)));
}

void Pool::WorkerLoop(int /*index*/) {
  std::unique_ptr<pqxx::connection> conn;
  const std::string conninfo = RebuildConninfo(
      options_.conninfo,
      {{"connect_timeout", std::to_string(std::max(1, (options_.connect_timeout_ms + 999) / 1000))},
       {"options", "-c statement_timeout=" + std::to_string(options_.statement_timeout_ms) +
                       " -c idle_in_transaction_session_timeout=" +
                       std::to_string(std::max(options_.statement_timeout_ms * 2, 10000))},
       {"application_name", "ticketd-" + options_.name}});
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) break;  // stopping and drained
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    busy_.fetch_add(1);
    std::exception_ptr unavailable;
    if (conn == nullptr || !conn->is_open()) {
      if (conn != nullptr) {
        conn.reset();
        connected_.fetch_sub(1);
      }
      if (NowMs() - last_connect_failure_ms_.load() < kFailFastMs) {
        unavailable = std::make_exception_ptr(DependencyUnavailable("postgres", options_.name + ": database unreachable"));
      } else {
        try {
          conn = std::make_unique<pqxx::connection>(conninfo);
          connected_.fetch_add(1);
        } catch (const std::exception& e) {
          last_connect_failure_ms_.store(NowMs());
          unavailable = std::make_exception_ptr(
              DependencyUnavailable("postgres", options_.name + ": cannot connect: " + e.what()));
        }
      }
    }
    if (unavailable) {
      if (errors_ != nullptr) errors_->Inc();
      job(nullptr, std::move(unavailable));
    } else {
      // The job reports its own errors; afterwards drop a connection that broke.
      bool broken = false;
      job(conn.get(), nullptr);
      try {
        broken = !conn->is_open();
      } catch (...) {
        broken = true;
      }
      if (broken) {
        conn.reset();
        connected_.fetch_sub(1);
        if (errors_ != nullptr) errors_->Inc();
      }
    }
    busy_.fetch_sub(1);
  }
  if (conn != nullptr) connected_.fetch_sub(1);
}

namespace {
thread_local std::vector<std::string> t_after_commit;
}  // namespace

void AfterCommit(std::string sql) {
  for (const auto& queued : t_after_commit) {
    if (queued == sql) return;  // one NOTIFY per channel is enough
  }
  t_after_commit.push_back(std::move(sql));
}

namespace detail {

std::string PreparedName(std::string_view sql) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (const char c : sql) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  return fmt::format("td_{:016x}", hash);
}

void DiscardAfterCommit() noexcept { t_after_commit.clear(); }

void RunAfterCommit(pqxx::connection& conn) noexcept {
  if (t_after_commit.empty()) return;
  std::vector<std::string> statements;
  statements.swap(t_after_commit);
  // One round trip: the whole transaction goes as one simple-protocol query
  // (BEGIN and COMMIT inside it), so an outbox NOTIFY costs the booking path
  // one exchange with the server instead of four.
  std::string batch = "BEGIN; SET LOCAL synchronous_commit = off; ";
  for (const auto& sql : statements) batch += sql + "; ";
  batch += "COMMIT";
  try {
    pqxx::nontransaction tx(conn);
    tx.exec(batch);
  } catch (const std::exception& e) {
    log::Warn("after-commit statement failed (the outbox relay's polling covers it)", {{"error", e.what()}});
    try {
      // A failure inside the batch leaves its transaction block open.
      pqxx::nontransaction cleanup(conn);
      cleanup.exec("ROLLBACK");
    } catch (const std::exception&) {
    }
  }
}

}  // namespace detail

}  // namespace ticketd::db
