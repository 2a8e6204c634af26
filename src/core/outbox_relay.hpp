#pragma once
// The outbox relay: publishes one module's `<schema>.outbox` rows to Kafka.
//
// - Exactly one active relay per outbox across every ticketd instance on the
//   database: the relay holds a session advisory lock while it publishes and
//   the others wait for it (a dead leader's lock dies with its connection).
// - Woken by NOTIFY on commit, with a polling fallback.
// - A row is marked published only after its delivery report succeeded.
//   Retryable failures (brokers down, timeouts) leave rows in place and back
//   off exponentially; a non-retryable failure counts an attempt on the row
//   and after `max_attempts` the row goes to the DLQ topic and is marked failed.
// - Published rows older than `retention` are deleted.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include <pqxx/connection>

#include "core/kafka.hpp"
#include "ticketd/core/metrics.hpp"


namespace ticketd::events {

struct RelayOptions {
  std::string schema;
  std::string conninfo;  // the module's own role
  int batch_size = 500;
  std::chrono::milliseconds poll_interval{1000};
  int max_attempts = 5;
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{30000};
  std::chrono::seconds retention{72 * 3600};
  std::chrono::milliseconds lock_retry{2000};
  std::chrono::milliseconds produce_timeout{35000};
  /// The brokers live inside this process (the embedded cluster): whatever was
  /// published before it started died with the previous process, so rows
  /// marked published before now are sent again once, before this relay
  /// publishes anything (consumers are idempotent, a duplicate is harmless).
  bool republish_on_start = false;
  /// Fault injection for tests: runs after a batch was delivered and before it
  /// is marked; throwing simulates a relay killed at that point.
  std::function<void()> after_produce_for_testing;
};

struct OutboxStatus {
  long long backlog = 0;          // unpublished, not failed
  double oldest_age_seconds = 0;  // of the oldest unpublished row
  long long failed = 0;           // sent to the DLQ
  long long published = 0;        // kept until retention
};

/// Reads the state of `<schema>.outbox`.
OutboxStatus ReadOutboxStatus(pqxx::connection& conn, const std::string& schema);

class OutboxRelay {
 public:
  OutboxRelay(RelayOptions options, kafka::Producer& producer, metrics::Registry* registry);
  ~OutboxRelay();
  OutboxRelay(const OutboxRelay&) = delete;
  OutboxRelay& operator=(const OutboxRelay&) = delete;

  void Start();
  /// Stops within about a second; rows not yet marked stay for the next leader.
  void Stop();
  [[nodiscard]] bool leader() const noexcept { return leader_.load(); }
  [[nodiscard]] const std::string& schema() const noexcept { return options_.schema; }

 private:
  void Run();
  void Lead(pqxx::connection& conn);
  /// Publishes one batch; returns rows handled and whether a retryable failure happened.
  std::pair<std::size_t, bool> PublishBatch(pqxx::connection& conn);
  void Sleep(std::chrono::milliseconds d);
  void Purge(pqxx::connection& conn);
  void RefreshGauges(pqxx::connection& conn);

  RelayOptions options_;
  kafka::Producer& producer_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> leader_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  metrics::Gauge* backlog_ = nullptr;
  metrics::Gauge* oldest_age_ = nullptr;
  metrics::Gauge* leader_gauge_ = nullptr;
  metrics::Counter* published_ = nullptr;
  metrics::Counter* retryable_failures_ = nullptr;
  metrics::Counter* dead_lettered_ = nullptr;
  metrics::Histogram* latency_ = nullptr;
};

}  // namespace ticketd::events
