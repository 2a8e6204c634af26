#pragma once
// Postgres access for modules. libpqxx is blocking, so every query runs on the
// pool's own threads (one connection each) and the calling coroutine resumes on
// its executor when the work is done: an I/O thread never waits on Postgres.
//
//   auto n = co_await pool.Transact([&](pqxx::work& tx) { return tx.exec1("…")[0].as<int>(); });
//
// Errors: a lost or unreachable server, a full queue or a statement timeout
// throw DependencyUnavailable("postgres", …) (→ 503 with Retry-After at the
// HTTP edge). Serialization failures and deadlocks (40001/40P01) are retried
// by Transact up to `retry_attempts` times, so its callable must be safe to run
// again. Any other pqxx::sql_error propagates unchanged for the module to map.

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <pqxx/connection>
#include <pqxx/except>
#include <pqxx/transaction>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "ticketd/core/error.hpp"

namespace ticketd::metrics {
class Registry;
class Gauge;
class Counter;
}  // namespace ticketd::metrics

namespace ticketd::db {

struct PoolOptions {
  std::string name;      // module name, used in metrics and logs
  std::string conninfo;  // libpq connection string or URI
  int size = 4;          // connections == worker threads
  int statement_timeout_ms = 5000;
  int connect_timeout_ms = 3000;
  std::size_t max_queue = 1000;  // waiting jobs beyond this → DependencyUnavailable
  int retry_attempts = 3;        // Transact attempts on 40001/40P01
};

/// Parses any libpq connection string (URI or keyword form) and rebuilds it in
/// keyword form with `overrides` replacing or adding keywords (an empty
/// override value removes the keyword). Throws std::invalid_argument.
std::string RebuildConninfo(const std::string& conninfo, const std::map<std::string, std::string>& overrides);
/// Rebuilds `conninfo` with the given user and password (any libpq form in,
/// keyword/value form out). Throws std::invalid_argument on a malformed string.
std::string WithCredentials(const std::string& conninfo, const std::string& user, const std::string& password);

/// The SQLSTATE of a libpqxx error. libpqxx 6 leaves sqlstate() empty on its
/// specific subclasses (unique_violation, insufficient_privilege, …); this
/// recovers the code from the type in that case.
std::string SqlState(const pqxx::sql_error& error);

/// Translates an exception that means "the server is unreachable or
/// overloaded" (lost connection, commit in doubt, statement timeout, admin
/// shutdown, too many connections) into DependencyUnavailable; returns any
/// other exception unchanged.
std::exception_ptr Classify(std::exception_ptr error, const std::string& pool_name);

/// Queues a statement to run on the same connection right after the current
/// Pool transaction commits, in its own transaction with asynchronous commit,
/// and drops it when the transaction rolls back. Used for the outbox's NOTIFY:
/// PostgreSQL holds its global notify lock from a notifying transaction's
/// pre-commit until after the commit's WAL flush, so a NOTIFY inside every
/// booking transaction would serialize their commits (measured: half the hold
/// throughput). Failures are logged and ignored: the relay also polls.
/// Only meaningful inside Pool::Transact / TransactSync (elsewhere the
/// statement is dropped at the thread's next Pool transaction).
void AfterCommit(std::string sql);

namespace detail {
/// A stable name for a prepared statement: "td_" + a 64-bit FNV-1a of the text.
std::string PreparedName(std::string_view sql);
}  // namespace detail

/// Runs `sql` as a prepared statement on the transaction's connection. It is
/// prepared on its first use on each connection (named after its text), so
/// Postgres parses and plans a hot statement once per connection rather than
/// on every call. For statements run often with the same text.
template <typename... Args>
pqxx::result ExecPrepared(pqxx::transaction_base& tx, const std::string& sql, Args&&... args) {
  const std::string name = detail::PreparedName(sql);
  tx.conn().prepare(name, sql);  // a no-op once known with this text
  return tx.exec_prepared(name, std::forward<Args>(args)...);
}

namespace detail {
void RunAfterCommit(pqxx::connection& conn) noexcept;
void DiscardAfterCommit() noexcept;
}  // namespace detail

class Pool {
 public:
  Pool(PoolOptions options, metrics::Registry* registry);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  /// Runs fn(pqxx::connection&) on a pool thread; see the header comment for errors.
  template <typename F>
  auto Run(F fn) -> boost::asio::awaitable<std::invoke_result_t<F&, pqxx::connection&>>;

  /// Runs fn(pqxx::work&) in a transaction that commits when fn returns;
  /// retried on serialization failure and deadlock.
  template <typename F>
  auto Transact(F fn) -> boost::asio::awaitable<std::invoke_result_t<F&, pqxx::work&>>;

  /// Blocking variants for background threads and CLI commands (never call
  /// them from an I/O thread).
  template <typename F>
  auto RunSync(F fn) -> std::invoke_result_t<F&, pqxx::connection&>;
  template <typename F>
  auto TransactSync(F fn) -> std::invoke_result_t<F&, pqxx::work&>;

  /// Refuses new work, finishes queued work, closes connections. Idempotent.
  void Stop();

  [[nodiscard]] const PoolOptions& options() const noexcept { return options_; }
  [[nodiscard]] std::size_t QueueDepth() const;
  [[nodiscard]] int Busy() const noexcept { return busy_.load(); }
  [[nodiscard]] int Connected() const noexcept { return connected_.load(); }

 private:
  using Job = std::move_only_function<void(pqxx::connection*, std::exception_ptr)>;
  /// Queues a job; false when stopped or the queue is full.
  bool Submit(Job job);
  void WorkerLoop(int index);
  template <typename F>
  static auto InTransaction(F& fn, pqxx::connection& conn, int attempts) -> std::invoke_result_t<F&, pqxx::work&>;
  static bool IsRetryableConflict(const std::exception& e);
  static void Backoff(int attempt);

  PoolOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
  std::atomic<int> busy_{0};
  std::atomic<int> connected_{0};
  std::atomic<std::int64_t> last_connect_failure_ms_{0};
  metrics::Counter* errors_ = nullptr;
};

// ---- implementation of the templates ----

template <typename T>
struct Box {
  std::optional<T> value;
};
template <>
struct Box<void> {};

template <typename F>
auto Pool::Run(F fn) -> boost::asio::awaitable<std::invoke_result_t<F&, pqxx::connection&>> {
  using R = std::invoke_result_t<F&, pqxx::connection&>;
  auto box = co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&,
                                                  void(std::exception_ptr, Box<R>)>(
      [this, &fn](auto handler) {
        // Work is tracked on the caller's executor until the job is gone: the
        // I/O side's io_context cannot run out of work (and be destroyed)
        // while this worker is still inside post() into it.
        auto resume_on = boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                             boost::asio::execution::outstanding_work.tracked);
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        // The exception is moved, never copied: the worker must not hold the
        // last reference to an exception another thread is reading.
        auto finish = [shared, resume_on](std::exception_ptr ep, Box<R> result) {
          boost::asio::post(resume_on, [shared, ep = std::move(ep), result = std::move(result)]() mutable {
            (*shared)(std::move(ep), std::move(result));
          });
        };
        const bool queued = Submit([fn = std::move(fn), finish, name = options_.name](pqxx::connection* conn, std::exception_ptr ep) mutable {
          Box<R> result;
          if (!ep) {
            try {
              if constexpr (std::is_void_v<R>) {
                fn(*conn);
              } else {
                result.value.emplace(fn(*conn));
              }
            } catch (...) {
              ep = Classify(std::current_exception(), name);
            }
          }
          finish(std::move(ep), std::move(result));
        });
        if (!queued) {
          finish(std::make_exception_ptr(DependencyUnavailable("postgres", "database pool busy or stopped")), Box<R>{});
        }
      },
      boost::asio::use_awaitable);
  if constexpr (!std::is_void_v<R>) {
    co_return std::move(*box.value);
  }
}

template <typename F>
auto Pool::InTransaction(F& fn, pqxx::connection& conn, int attempts) -> std::invoke_result_t<F&, pqxx::work&> {
  using R = std::invoke_result_t<F&, pqxx::work&>;
  for (int attempt = 1;; ++attempt) {
    detail::DiscardAfterCommit();
    try {
      pqxx::work tx(conn);
      if constexpr (std::is_void_v<R>) {
        fn(tx);
        tx.commit();
        detail::RunAfterCommit(conn);
        return;
      } else {
        R result = fn(tx);
        tx.commit();
        detail::RunAfterCommit(conn);
        return result;
      }
    } catch (const std::exception& e) {
      detail::DiscardAfterCommit();
      if (attempt >= attempts || !IsRetryableConflict(e)) throw;
      Backoff(attempt);
    }
  }
}

template <typename F>
auto Pool::Transact(F fn) -> boost::asio::awaitable<std::invoke_result_t<F&, pqxx::work&>> {
  const int attempts = options_.retry_attempts;
  // A named lambda, not a temporary in the co_await operand (GCC 12 may destroy those twice).
  auto job = [fn = std::move(fn), attempts](pqxx::connection& conn) mutable { return InTransaction(fn, conn, attempts); };
  co_return co_await Run(std::move(job));
}

template <typename F>
auto Pool::RunSync(F fn) -> std::invoke_result_t<F&, pqxx::connection&> {
  using R = std::invoke_result_t<F&, pqxx::connection&>;
  // The result (or exception) is handed over under a mutex and the worker
  // keeps no reference to it afterwards. (std::promise::set_exception keeps
  // its by-value argument until after the waiter woke, so the worker could
  // drop an exception's last reference while this thread reads it.)
  struct Handoff {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    Box<R> box;
    std::exception_ptr error;
  } handoff;
  const bool queued = Submit([&fn, &handoff, this](pqxx::connection* conn, std::exception_ptr ep) {
    Box<R> box;
    if (!ep) {
      try {
        if constexpr (std::is_void_v<R>) {
          fn(*conn);
        } else {
          box.value.emplace(fn(*conn));
        }
      } catch (...) {
        ep = Classify(std::current_exception(), options_.name);
      }
    }
    std::lock_guard lock(handoff.mu);
    handoff.box = std::move(box);
    handoff.error = std::move(ep);
    handoff.done = true;
    handoff.cv.notify_one();  // under the lock: `handoff` lives on the waiting thread's stack
  });
  if (!queued) throw DependencyUnavailable("postgres", "database pool busy or stopped");
  std::unique_lock lock(handoff.mu);
  handoff.cv.wait(lock, [&handoff] { return handoff.done; });
  if (handoff.error) {
    std::exception_ptr error = std::move(handoff.error);
    lock.unlock();
    std::rethrow_exception(std::move(error));
  }
  if constexpr (!std::is_void_v<R>) {
    return std::move(*handoff.box.value);
  }
}

template <typename F>
auto Pool::TransactSync(F fn) -> std::invoke_result_t<F&, pqxx::work&> {
  const int attempts = options_.retry_attempts;
  return RunSync([&fn, attempts](pqxx::connection& conn) { return InTransaction(fn, conn, attempts); });
}

}  // namespace ticketd::db
