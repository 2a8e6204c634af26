#pragma once
// A module's Kafka consumer (one consumer group per consuming module).
//
// Messages are taken in batches of what is ready; a batch whose messages all
// parse and have handlers is applied in one transaction (the fast path). Else,
// and whenever that transaction fails, messages are handled one by one:
// For each message: parse the envelope; find the handler for its type (a type
// without a handler, or a newer version than the handler knows, is skipped
// with a log line and a metric); in ONE transaction of the module's pool,
// record the event id in `<schema>.processed_events` and run the handler;
// only after that commit store the offset. A redelivered event finds its id
// recorded and has no second effect.
//
// Failures: a dependency outage (DependencyUnavailable) pauses the partition
// and retries the same message with exponential backoff for as long as it
// takes; any other handler error is retried up to `max_attempts` and then
// the message goes to `dlq.<topic stem>` and the partition moves on. An
// unparseable message goes to the DLQ at once.

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/kafka.hpp"
#include "ticketd/core/db.hpp"
#include "ticketd/core/events.hpp"
#include "ticketd/core/metrics.hpp"

namespace ticketd::events {

using EventHandler = std::function<void(pqxx::work&, const Envelope&)>;

struct ConsumerOptions {
  std::string group_id;  // e.g. "ticketd.reservation"
  std::string schema;    // owner of processed_events
  std::vector<std::string> topics;
  int max_attempts = 5;
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{10000};
  int session_timeout_ms = 10000;
  /// Messages applied in one transaction when they all parse and have handlers.
  std::size_t max_batch = 200;
  /// Test hook: called after an effect committed; returning true makes the
  /// consumer stop WITHOUT storing that message's offset (a crash there).
  std::function<bool(const Envelope&)> crash_before_offset_store_for_testing;
};

class EventConsumer {
 public:
  EventConsumer(ConsumerOptions options, const kafka::Cluster& cluster, db::Pool& pool, kafka::Producer& dlq_producer,
                metrics::Registry* registry);
  ~EventConsumer();
  EventConsumer(const EventConsumer&) = delete;
  EventConsumer& operator=(const EventConsumer&) = delete;

  /// Registers the handler for `event_type` (versions 1..max_version). Before Start().
  void On(std::string event_type, int max_version, EventHandler handler);
  void Start();
  /// Leaves the group after committing stored offsets.
  void Stop();
  [[nodiscard]] bool running() const noexcept { return running_.load(); }

 private:
  enum class Outcome { kApplied, kDuplicate, kSkipped, kDeadLettered, kRetry };
  struct Handler {
    int max_version;
    EventHandler fn;
  };
  void Run();
  Outcome Handle(const rd_kafka_message_t* msg, std::string& error, bool& transient);
  bool TryBatch(const std::vector<std::unique_ptr<rd_kafka_message_t, decltype(&rd_kafka_message_destroy)>>& batch);
  void DeadLetter(const rd_kafka_message_t* msg, const std::string& event_id, const std::string& error);
  void StoreOffset(const rd_kafka_message_t* msg);
  void Count(const char* outcome);

  ConsumerOptions options_;
  const kafka::Cluster& cluster_;
  db::Pool& pool_;
  kafka::Producer& dlq_producer_;
  metrics::Registry* registry_;
  std::map<std::string, Handler> handlers_;
  rd_kafka_t* rk_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> running_{false};
};

/// A process's own reading of topics, for state kept in memory (the live seat
/// map), so that every instance learns what every other instance did.
///
/// No consumer group and no commits: Start() assigns every partition by hand
/// at the end of the log as it is then, so the process sees every event
/// published from that moment on. Nothing is recorded in Postgres: memory is
/// rebuilt from Postgres at start, and handlers must be idempotent and
/// converge when events of one key arrive in order (Kafka's per-partition
/// order; the in-process path may apply the same change earlier). A handler
/// that throws is logged, counted and skipped. Partitions added to a topic
/// after Start() are not read.
using MemoryHandler = std::function<void(const Envelope&)>;

struct BroadcastOptions {
  std::string name;  // logs and the metric's `group` label, e.g. "catalog.seat-map"
  std::vector<std::string> topics;
  /// How long Start() waits for the first assignment before going on (it
  /// keeps trying in the background while Kafka is unreachable).
  std::chrono::milliseconds start_timeout{5000};
};

class BroadcastConsumer {
 public:
  BroadcastConsumer(BroadcastOptions options, const kafka::Cluster& cluster, metrics::Registry* registry);
  ~BroadcastConsumer();
  BroadcastConsumer(const BroadcastConsumer&) = delete;
  BroadcastConsumer& operator=(const BroadcastConsumer&) = delete;

  /// Registers the handler for `event_type` (versions 1..max_version). Before Start().
  void On(std::string event_type, int max_version, MemoryHandler handler);
  /// Assigns the partitions at their current end and starts reading; returns
  /// whether that assignment was made within `start_timeout`.
  bool Start();
  void Stop();
  [[nodiscard]] bool assigned() const noexcept { return assigned_.load(); }

 private:
  bool TryAssign(int timeout_ms);
  void Run();
  void Count(const char* outcome);

  BroadcastOptions options_;
  const kafka::Cluster& cluster_;
  metrics::Registry* registry_;
  std::map<std::string, std::pair<int, MemoryHandler>> handlers_;
  rd_kafka_t* rk_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> assigned_{false};
};

/// Re-publishes every message of `dlq_topic` to the topic named in its
/// `original-topic` header (the manual reprocessing step), committing as it
/// goes; returns how many were replayed. Stops after `idle` without messages.
std::size_t ReplayDlq(const kafka::Cluster& cluster, const std::string& dlq_topic, std::chrono::milliseconds idle);

}  // namespace ticketd::events
