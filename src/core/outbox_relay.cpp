#include "core/outbox_relay.hpp"

#include <boost/json.hpp>

#include <pqxx/pqxx>

#include <algorithm>

#include "ticketd/core/events.hpp"
#include "ticketd/core/log.hpp"

namespace ticketd::events {

using namespace std::chrono_literals;

namespace {

class Wakeup final : public pqxx::notification_receiver {
 public:
  Wakeup(pqxx::connection& conn, const std::string& channel) : pqxx::notification_receiver(conn, channel) {}
  void operator()(const std::string& /*payload*/, int /*backend_pid*/) override { ++count; }
  int count = 0;
};

std::string IdArray(const std::vector<long long>& ids) {
  std::string out = "{";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(ids[i]);
  }
  return out + "}";
}

}  // namespace

OutboxStatus ReadOutboxStatus(pqxx::connection& conn, const std::string& schema) {
  pqxx::nontransaction tx(conn);
  const auto row = tx.exec1(
      "SELECT count(*) FILTER (WHERE published_at IS NULL AND failed_at IS NULL),"
      " coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE published_at IS NULL AND failed_at IS NULL)), 0),"
      " count(*) FILTER (WHERE failed_at IS NOT NULL),"
      " count(*) FILTER (WHERE published_at IS NOT NULL)"
      " FROM " + tx.quote_name(schema) + ".outbox");
  return {row[0].as<long long>(), row[1].as<double>(), row[2].as<long long>(), row[3].as<long long>()};
}

OutboxRelay::OutboxRelay(RelayOptions options, kafka::Producer& producer, metrics::Registry* registry)
    : options_(std::move(options)), producer_(producer) {
  if (registry != nullptr) {
    const metrics::Labels l{{"schema", options_.schema}};
    backlog_ = &registry->GetGauge("ticketd_outbox_backlog", "Outbox rows waiting to be published", l);
    oldest_age_ = &registry->GetGauge("ticketd_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row", l);
    leader_gauge_ = &registry->GetGauge("ticketd_outbox_relay_leader", "1 when this instance publishes this outbox", l);
    published_ = &registry->GetCounter("ticketd_outbox_published_total", "Outbox rows published to Kafka", l);
    retryable_failures_ =
        &registry->GetCounter("ticketd_outbox_retryable_failures_total", "Deliveries failed with a retryable error", l);
    dead_lettered_ = &registry->GetCounter("ticketd_outbox_dead_lettered_total", "Outbox rows sent to the DLQ", l);
    latency_ = &registry->GetHistogram("ticketd_outbox_publish_latency_seconds", "Commit to delivery report", l);
  }
}

OutboxRelay::~OutboxRelay() { Stop(); }

void OutboxRelay::Start() { thread_ = std::thread([this] { Run(); }); }

void OutboxRelay::Stop() {
  stop_ = true;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void OutboxRelay::Sleep(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [this] { return stop_.load(); });
}

void OutboxRelay::Run() {
  auto backoff = options_.backoff_initial;
  bool republished = !options_.republish_on_start;
  while (!stop_) {
    try {
      pqxx::connection conn(options_.conninfo);
      if (!republished) {
        pqxx::work tx(conn);
        const auto n = tx.exec("UPDATE " + tx.quote_name(options_.schema) +
                               ".outbox SET published_at = NULL WHERE published_at IS NOT NULL AND failed_at IS NULL "
                               "AND published_at < now()")
                           .affected_rows();
        tx.exec("SELECT pg_notify(" + tx.quote(OutboxChannel(options_.schema)) + ", '')");
        tx.commit();
        republished = true;
        if (n > 0) {
          log::Info("outbox relay: rows published to the previous embedded cluster are sent again",
                    {{"schema", options_.schema}, {"rows", static_cast<std::int64_t>(n)}});
        }
      }
      pqxx::nontransaction probe(conn);
      const bool locked =
          probe.exec1("SELECT pg_try_advisory_lock(hashtextextended(" + probe.quote("ticketd.outbox." + options_.schema) + ", 0))")[0]
              .as<bool>();
      probe.commit();
      if (!locked) {
        Sleep(options_.lock_retry);
        continue;
      }
      leader_ = true;
      if (leader_gauge_ != nullptr) leader_gauge_->Set(1);
      log::Info("outbox relay leading", {{"schema", options_.schema}});
      Lead(conn);
      backoff = options_.backoff_initial;
    } catch (const std::exception& e) {
      log::Warn("outbox relay interrupted", {{"schema", options_.schema}, {"error", e.what()}});
      Sleep(backoff);
      backoff = std::min(backoff * 2, options_.backoff_max);
    }
    if (leader_.exchange(false)) {
      if (leader_gauge_ != nullptr) leader_gauge_->Set(0);
      log::Info("outbox relay stepped down", {{"schema", options_.schema}});
    }
  }
}

void OutboxRelay::Lead(pqxx::connection& conn) {
  Wakeup wakeup(conn, OutboxChannel(options_.schema));
  auto backoff = options_.backoff_initial;
  auto last_purge = std::chrono::steady_clock::now() - 1h;
  auto last_gauges = std::chrono::steady_clock::time_point{};
  while (!stop_) {
    // Notifications that arrive while the queries below run are delivered to
    // `wakeup` during those queries: remember the count so none is slept through.
    const int notified_before = wakeup.count;
    const auto [handled, retryable_failure] = PublishBatch(conn);
    const auto now = std::chrono::steady_clock::now();
    if (now - last_gauges > 1s) {
      RefreshGauges(conn);
      last_gauges = now;
    }
    if (now - last_purge > 1min) {
      Purge(conn);
      last_purge = now;
    }
    if (retryable_failure) {
      Sleep(backoff);
      backoff = std::min(backoff * 2, options_.backoff_max);
      continue;
    }
    backoff = options_.backoff_initial;
    if (handled >= static_cast<std::size_t>(options_.batch_size)) continue;  // more waiting
    conn.get_notifs();  // deliver any that are already here
    if (wakeup.count != notified_before) continue;  // a commit landed while we were publishing
    // Idle: wait for a NOTIFY (or the polling interval), in slices so Stop is prompt.
    const auto until = std::chrono::steady_clock::now() + options_.poll_interval;
    while (!stop_ && std::chrono::steady_clock::now() < until) {
      const auto slice = std::min<std::chrono::milliseconds>(
          250ms, std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()));
      if (conn.await_notification(0, static_cast<long>(std::max<long long>(1, slice.count())) * 1000) > 0) break;
    }
  }
}

std::pair<std::size_t, bool> OutboxRelay::PublishBatch(pqxx::connection& conn) {
  struct Row {
    long long id;
    std::string topic, aggregate_type, aggregate_id, event_type, event_id, envelope;
    int version, attempts;
    double age;
  };
  std::vector<Row> rows;
  {
    pqxx::nontransaction tx(conn);
    const auto result = tx.exec_params(
        "SELECT id, topic, aggregate_type, aggregate_id, event_type, event_id::text, envelope::text, version, attempts,"
        " extract(epoch FROM clock_timestamp() - created_at)"
        " FROM " + tx.quote_name(options_.schema) +
            ".outbox WHERE published_at IS NULL AND failed_at IS NULL ORDER BY id LIMIT $1",
        options_.batch_size);
    rows.reserve(result.size());
    for (const auto& r : result) {
      rows.push_back({r[0].as<long long>(), r[1].as<std::string>(), r[2].as<std::string>(), r[3].as<std::string>(),
                      r[4].as<std::string>(), r[5].as<std::string>(), r[6].as<std::string>(), r[7].as<int>(),
                      r[8].as<int>(), r[9].as<double>()});
    }
  }
  if (rows.empty()) return {0, false};

  std::vector<kafka::Message> messages;
  messages.reserve(rows.size());
  for (const auto& r : rows) {
    messages.push_back({r.topic, r.aggregate_id, r.envelope,
                        {{"event-id", r.event_id},
                         {"event-type", r.event_type},
                         {"event-version", std::to_string(r.version)},
                         {"aggregate-type", r.aggregate_type}}});
  }
  const auto deliveries = producer_.ProduceAll(messages, options_.produce_timeout);
  if (options_.after_produce_for_testing) options_.after_produce_for_testing();

  std::vector<long long> delivered;
  std::vector<std::size_t> rejected;  // non-retryable
  bool retryable_failure = false;
  std::string first_error;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& d = deliveries[i];
    if (d.ok()) {
      delivered.push_back(rows[i].id);
      if (latency_ != nullptr) latency_->Observe(rows[i].age);
    } else if (!d.reported || kafka::IsRetryable(d.err)) {
      retryable_failure = true;
      if (first_error.empty()) first_error = d.reported ? rd_kafka_err2str(d.err) : "no delivery report in time";
    } else {
      rejected.push_back(i);
    }
  }

  pqxx::work tx(conn);
  const std::string table = tx.quote_name(options_.schema) + ".outbox";
  if (!delivered.empty()) {
    tx.exec_params0("UPDATE " + table + " SET published_at = now() WHERE id = ANY($1::bigint[])", IdArray(delivered));
  }
  for (const auto i : rejected) {
    const auto& r = rows[i];
    const std::string error = rd_kafka_err2str(deliveries[i].err);
    if (r.attempts + 1 < options_.max_attempts) {
      tx.exec_params0("UPDATE " + table + " SET attempts = attempts + 1, last_error = $2 WHERE id = $1", r.id, error);
      retryable_failure = true;  // try again after the backoff
      continue;
    }
    // Out of attempts: park the event in the DLQ with the reason, then mark it failed.
    kafka::Message dlq = messages[i];
    dlq.topic = kafka::DlqTopicFor(r.topic);
    dlq.headers.emplace_back("original-topic", r.topic);
    dlq.headers.emplace_back("error", error);
    dlq.headers.emplace_back("source", "outbox:" + options_.schema);
    if (dlq.value.size() > 512 * 1024) {
      // Too large for any topic: the DLQ gets a reference; the full envelope stays in the outbox row.
      dlq.value = boost::json::serialize(boost::json::object{{"eventId", r.event_id},
                                                             {"eventType", r.event_type},
                                                             {"aggregateId", r.aggregate_id},
                                                             {"truncated", true},
                                                             {"outboxSchema", options_.schema},
                                                             {"outboxId", r.id}});
    }
    const auto dlq_result = producer_.ProduceAll({dlq}, options_.produce_timeout);
    if (!dlq_result[0].ok()) {
      retryable_failure = true;
      continue;
    }
    tx.exec_params0("UPDATE " + table + " SET attempts = attempts + 1, last_error = $2, failed_at = now() WHERE id = $1",
                    r.id, error);
    if (dead_lettered_ != nullptr) dead_lettered_->Inc();
    log::Error("outbox event dead-lettered",
               {{"schema", options_.schema}, {"event_id", r.event_id}, {"topic", r.topic}, {"error", error}});
  }
  tx.commit();
  if (published_ != nullptr) published_->Inc(static_cast<double>(delivered.size()));
  if (retryable_failure && !first_error.empty()) {
    if (retryable_failures_ != nullptr) retryable_failures_->Inc();
    log::Warn("outbox publish failed; will retry",
              {{"schema", options_.schema}, {"error", first_error}, {"delivered", static_cast<std::int64_t>(delivered.size())}});
  }
  return {rows.size(), retryable_failure};
}

void OutboxRelay::Purge(pqxx::connection& conn) {
  pqxx::work tx(conn);
  tx.exec_params0("DELETE FROM " + tx.quote_name(options_.schema) +
                      ".outbox WHERE published_at < now() - make_interval(secs => $1)",
                  static_cast<double>(options_.retention.count()));
  tx.commit();
}

void OutboxRelay::RefreshGauges(pqxx::connection& conn) {
  if (backlog_ == nullptr) return;
  pqxx::nontransaction tx(conn);
  const auto row = tx.exec1(
      "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM " + tx.quote_name(options_.schema) +
      ".outbox WHERE published_at IS NULL AND failed_at IS NULL");
  backlog_->Set(row[0].as<double>());
  oldest_age_->Set(row[1].as<double>());
}

}  // namespace ticketd::events
