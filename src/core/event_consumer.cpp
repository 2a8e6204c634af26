#include "core/event_consumer.hpp"

#include <algorithm>
#include <memory>
#include <optional>
#include <set>
#include <utility>
#include <stdexcept>

#include "ticketd/core/ids.hpp"
#include "ticketd/core/log.hpp"

namespace ticketd::events {

using namespace std::chrono_literals;

namespace {

std::string Header(const rd_kafka_message_t* msg, const char* name) {
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(msg, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  const void* value = nullptr;
  size_t size = 0;
  if (rd_kafka_header_get_last(headers, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  return {static_cast<const char*>(value), size};
}

std::string Topic(const rd_kafka_message_t* msg) { return rd_kafka_topic_name(msg->rkt); }

std::vector<std::pair<std::string, std::string>> CopyHeaders(const rd_kafka_message_t* msg) {
  std::vector<std::pair<std::string, std::string>> out;
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(msg, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return out;
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
    out.emplace_back(name, std::string(static_cast<const char*>(value), size));
  }
  return out;
}

// How long a fetch may wait at the broker when a partition has nothing new.
// Real brokers answer a waiting fetch as soon as data arrives, so waiting long
// costs no latency and saves idle requests (Kafka's default, 500 ms). The
// embedded mock cluster always waits the whole time before answering an
// empty fetch, so there the wait is the consumer's latency floor: 50 ms keeps
// a saga step quick without the idle cost of polling every 10 ms (which took
// ~14% of a core with four consumers on three brokers).
std::string FetchWaitMs(const kafka::Cluster& cluster) { return cluster.embedded() ? "50" : "500"; }

// A consumer handle polled through rd_kafka_consumer_poll: the cluster's
// configuration, the given settings, and the fetch behaviour every consumer
// here shares (offsets are stored by the caller, never automatically).
rd_kafka_t* NewConsumerHandle(const kafka::Cluster& cluster, const std::string& client_suffix,
                              const std::vector<std::pair<std::string, std::string>>& settings) {
  rd_kafka_conf_t* conf = cluster.NewConf(client_suffix);
  try {
    for (const auto& [key, value] : settings) kafka::SetConf(conf, key, value);
    kafka::SetConf(conf, "enable.auto.offset.store", "false");
    kafka::SetConf(conf, "fetch.wait.max.ms", FetchWaitMs(cluster));
    kafka::SetConf(conf, "fetch.error.backoff.ms", "10");
  } catch (...) {
    rd_kafka_conf_destroy(conf);
    throw;
  }
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("kafka consumer: ") + err);
  }
  rd_kafka_poll_set_consumer(rk);
  return rk;
}

rd_kafka_t* NewConsumer(const kafka::Cluster& cluster, const std::string& group, int session_timeout_ms) {
  return NewConsumerHandle(cluster, group,
                           {{"group.id", group},
                            {"enable.auto.commit", "true"},
                            {"auto.commit.interval.ms", "500"},
                            {"auto.offset.reset", "earliest"},
                            {"session.timeout.ms", std::to_string(session_timeout_ms)},
                            {"heartbeat.interval.ms", std::to_string(std::max(100, session_timeout_ms / 5))},
                            {"topic.metadata.refresh.interval.ms", "5000"}});
}

void Subscribe(rd_kafka_t* rk, const std::vector<std::string>& topics) {
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(topics.size()));
  for (const auto& t : topics) rd_kafka_topic_partition_list_add(list, t.c_str(), RD_KAFKA_PARTITION_UA);
  const auto err = rd_kafka_subscribe(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) throw std::runtime_error(std::string("kafka subscribe: ") + rd_kafka_err2str(err));
}

}  // namespace

EventConsumer::EventConsumer(ConsumerOptions options, const kafka::Cluster& cluster, db::Pool& pool,
                             kafka::Producer& dlq_producer, metrics::Registry* registry)
    : options_(std::move(options)), cluster_(cluster), pool_(pool), dlq_producer_(dlq_producer), registry_(registry) {}

EventConsumer::~EventConsumer() { Stop(); }

void EventConsumer::On(std::string event_type, int max_version, EventHandler handler) {
  handlers_[std::move(event_type)] = Handler{max_version, std::move(handler)};
}

void EventConsumer::Start() {
  rk_ = NewConsumer(cluster_, options_.group_id, options_.session_timeout_ms);
  Subscribe(rk_, options_.topics);
  running_ = true;
  thread_ = std::thread([this] { Run(); });
}

void EventConsumer::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (rk_ != nullptr) {
    rd_kafka_consumer_close(rk_);
    rd_kafka_destroy(rk_);
    rk_ = nullptr;
  }
  running_ = false;
}

void EventConsumer::Count(const char* outcome) {
  if (registry_ == nullptr) return;
  registry_
      ->GetCounter("ticketd_consumer_events_total", "Events seen by consumers, by outcome",
                   {{"group", options_.group_id}, {"outcome", outcome}})
      .Inc();
}

void EventConsumer::StoreOffset(const rd_kafka_message_t* msg) {
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, Topic(msg).c_str(), msg->partition)->offset = msg->offset + 1;
  rd_kafka_offsets_store(rk_, list);
  rd_kafka_topic_partition_list_destroy(list);
}

void EventConsumer::DeadLetter(const rd_kafka_message_t* msg, const std::string& event_id, const std::string& error) {
  kafka::Message m;
  m.topic = kafka::DlqTopicFor(Topic(msg));
  if (msg->key != nullptr) m.key.assign(static_cast<const char*>(msg->key), msg->key_len);
  if (msg->payload != nullptr) m.value.assign(static_cast<const char*>(msg->payload), msg->len);
  m.headers = CopyHeaders(msg);
  m.headers.emplace_back("original-topic", Topic(msg));
  m.headers.emplace_back("original-partition", std::to_string(msg->partition));
  m.headers.emplace_back("original-offset", std::to_string(msg->offset));
  m.headers.emplace_back("consumer-group", options_.group_id);
  m.headers.emplace_back("error", error.substr(0, 1000));
  for (auto backoff = options_.backoff_initial; !stop_; backoff = std::min(backoff * 2, options_.backoff_max)) {
    const auto d = dlq_producer_.ProduceAll({m}, 35s);
    if (d[0].ok()) break;
    log::Warn("dead-letter publish failed; retrying", {{"group", options_.group_id}, {"error", rd_kafka_err2str(d[0].err)}});
    std::this_thread::sleep_for(backoff);
  }
  log::Error("event dead-lettered", {{"group", options_.group_id},
                                     {"topic", Topic(msg)},
                                     {"partition", msg->partition},
                                     {"offset", msg->offset},
                                     {"event_id", event_id},
                                     {"error", error}});
}

EventConsumer::Outcome EventConsumer::Handle(const rd_kafka_message_t* msg, std::string& error, bool& transient) {
  transient = false;
  Envelope env;
  try {
    env = Parse(std::string_view(static_cast<const char*>(msg->payload), msg->len));
  } catch (const std::exception& e) {
    error = e.what();
    DeadLetter(msg, Header(msg, "event-id"), "unparseable: " + error);
    return Outcome::kDeadLettered;
  }
  const auto it = handlers_.find(env.event_type);
  if (it == handlers_.end() || env.version > it->second.max_version) {
    log::Info("event skipped: no handler for this type/version",
              {{"group", options_.group_id}, {"event_type", env.event_type}, {"version", env.version}, {"event_id", env.event_id}});
    return Outcome::kSkipped;
  }
  try {
    const bool applied = pool_.TransactSync([&](pqxx::work& tx) {
      if (!MarkProcessed(tx, options_.schema, options_.group_id, env)) return false;
      it->second.fn(tx, env);
      return true;
    });
    if (options_.crash_before_offset_store_for_testing && options_.crash_before_offset_store_for_testing(env)) {
      stop_ = true;
      throw std::runtime_error("simulated crash before offset store");
    }
    return applied ? Outcome::kApplied : Outcome::kDuplicate;
  } catch (const DependencyUnavailable& e) {
    error = e.reason();
    transient = true;
    return Outcome::kRetry;
  } catch (const std::exception& e) {
    error = e.what();
    return Outcome::kRetry;
  }
}

bool EventConsumer::TryBatch(const std::vector<std::unique_ptr<rd_kafka_message_t, decltype(&rd_kafka_message_destroy)>>& batch) {
  std::vector<Envelope> envelopes;
  std::vector<const Handler*> handlers;
  envelopes.reserve(batch.size());
  for (const auto& m : batch) {
    try {
      envelopes.push_back(Parse(std::string_view(static_cast<const char*>(m->payload), m->len)));
    } catch (const std::exception&) {
      return false;
    }
    const auto it = handlers_.find(envelopes.back().event_type);
    if (it == handlers_.end() || envelopes.back().version > it->second.max_version) return false;
    handlers.push_back(&it->second);
  }
  std::vector<bool> applied;
  try {
    pool_.TransactSync([&](pqxx::work& tx) {
      applied.assign(envelopes.size(), false);  // the transaction may be retried
      for (std::size_t i = 0; i < envelopes.size(); ++i) {
        if (!MarkProcessed(tx, options_.schema, options_.group_id, envelopes[i])) continue;
        handlers[i]->fn(tx, envelopes[i]);
        applied[i] = true;
      }
    });
  } catch (const std::exception&) {
    return false;
  }
  for (const auto& m : batch) StoreOffset(m.get());
  for (const bool a : applied) Count(a ? "applied" : "duplicate");
  return true;
}

void EventConsumer::Run() {
  struct Paused {
    std::string topic;
    int32_t partition;
    std::chrono::steady_clock::time_point resume_at;
  };
  std::vector<Paused> paused;
  std::map<std::pair<std::string, int64_t>, int> attempts;  // (topic/partition, offset) → failures
  auto resume_due = [&] {
    const auto now = std::chrono::steady_clock::now();
    for (auto it = paused.begin(); it != paused.end();) {
      if (it->resume_at > now) {
        ++it;
        continue;
      }
      rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
      rd_kafka_topic_partition_list_add(list, it->topic.c_str(), it->partition);
      rd_kafka_resume_partitions(rk_, list);
      rd_kafka_topic_partition_list_destroy(list);
      it = paused.erase(it);
    }
  };

  using MessagePtr = std::unique_ptr<rd_kafka_message_t, decltype(&rd_kafka_message_destroy)>;
  const std::size_t max_batch = options_.crash_before_offset_store_for_testing ? 1 : options_.max_batch;
  while (!stop_) {
    resume_due();
    // Take what is ready, up to max_batch: the first poll waits, the rest do not.
    std::vector<MessagePtr> batch;
    for (int wait_ms = 100; batch.size() < max_batch; wait_ms = 0) {
      rd_kafka_message_t* msg = rd_kafka_consumer_poll(rk_, wait_ms);
      if (msg == nullptr) break;
      MessagePtr owned(msg, &rd_kafka_message_destroy);
      if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          log::Warn("kafka consumer error", {{"group", options_.group_id}, {"error", rd_kafka_message_errstr(msg)}});
        }
        continue;
      }
      batch.push_back(std::move(owned));
    }
    if (batch.empty()) continue;
    // Fast path: the whole batch in one transaction. Any surprise (a parse
    // error, an unknown type, a failing handler) rolls it back and the batch
    // is handled one message at a time below.
    if (batch.size() > 1 && TryBatch(batch)) continue;

    std::set<std::pair<std::string, int32_t>> rewound;  // partitions sought back: later messages come again
    for (auto& owned : batch) {
      const rd_kafka_message_t* msg = owned.get();
      if (rewound.contains({Topic(msg), msg->partition})) continue;
      if (stop_) break;
      std::string error;
      bool transient = false;
      const Outcome outcome = Handle(msg, error, transient);
      if (stop_ && outcome != Outcome::kRetry) break;  // crash simulation: no offset store
      const auto key = std::make_pair(Topic(msg) + "/" + std::to_string(msg->partition), msg->offset);
      if (outcome == Outcome::kRetry) {
        if (stop_) break;
        int& n = attempts[key];
        if (!transient) ++n;
        if (!transient && n >= options_.max_attempts) {
          DeadLetter(msg, Header(msg, "event-id"), error);
          attempts.erase(key);
          StoreOffset(msg);
          Count("dead_lettered");
          continue;
        }
        // Pause the partition, rewind to this message, try again after a backoff.
        const int exponent = std::min(transient ? 6 : n, 10);
        const auto backoff = std::min(options_.backoff_max, options_.backoff_initial * (1 << exponent));
        log::Warn("event handling failed; will retry", {{"group", options_.group_id},
                                                         {"topic", Topic(msg)},
                                                         {"offset", msg->offset},
                                                         {"transient", transient},
                                                         {"attempt", n},
                                                         {"error", error}});
        rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(list, Topic(msg).c_str(), msg->partition)->offset = msg->offset;
        rd_kafka_pause_partitions(rk_, list);
        rd_kafka_error_t* seek_error = rd_kafka_seek_partitions(rk_, list, 5000);
        if (seek_error != nullptr) {
          log::Warn("kafka seek failed", {{"error", rd_kafka_error_string(seek_error)}});
          rd_kafka_error_destroy(seek_error);
        }
        rd_kafka_topic_partition_list_destroy(list);
        paused.push_back({Topic(msg), msg->partition, std::chrono::steady_clock::now() + backoff});
        rewound.insert({Topic(msg), msg->partition});
        Count("retried");
        continue;
      }
      attempts.erase(key);
      StoreOffset(msg);
      Count(outcome == Outcome::kApplied     ? "applied"
            : outcome == Outcome::kDuplicate ? "duplicate"
            : outcome == Outcome::kSkipped   ? "skipped"
                                             : "dead_lettered");
    }
  }
  running_ = false;
}

std::size_t ReplayDlq(const kafka::Cluster& cluster, const std::string& dlq_topic, std::chrono::milliseconds idle) {
  rd_kafka_t* rk = NewConsumer(cluster, "ticketd.dlq-replay." + dlq_topic, 10000);
  std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> guard(rk, [](rd_kafka_t* h) {
    rd_kafka_consumer_close(h);
    rd_kafka_destroy(h);
  });
  Subscribe(rk, {dlq_topic});
  kafka::Producer producer(cluster, "dlq-replay");
  std::size_t replayed = 0;
  // Only what the DLQ held when the replay began: a message that fails again
  // lands back in the DLQ and must wait for the next replay, not loop forever.
  // `end` is each partition's high watermark at assignment.
  const auto join_deadline = std::chrono::steady_clock::now() + 60s;
  std::map<int32_t, int64_t> end;
  std::map<int32_t, int64_t> next;  // next offset to look at, per partition
  std::optional<std::chrono::steady_clock::time_point> last_message;
  auto finished = [&] {
    for (const auto& [p, e] : end) {
      const auto it = next.find(p);
      if (e > 0 && (it == next.end() || it->second < e)) return false;
    }
    return true;
  };
  while (!last_message || (!finished() && std::chrono::steady_clock::now() - *last_message < idle)) {
    if (!last_message) {
      rd_kafka_topic_partition_list_t* assigned = nullptr;
      if (rd_kafka_assignment(rk, &assigned) == RD_KAFKA_RESP_ERR_NO_ERROR && assigned != nullptr) {
        for (int i = 0; i < assigned->cnt; ++i) {
          int64_t low = 0;
          int64_t high = 0;
          if (rd_kafka_query_watermark_offsets(rk, dlq_topic.c_str(), assigned->elems[i].partition, &low, &high, 5000) ==
              RD_KAFKA_RESP_ERR_NO_ERROR) {
            end[assigned->elems[i].partition] = high;
            next[assigned->elems[i].partition] = low;
          }
        }
        if (assigned->cnt > 0) last_message = std::chrono::steady_clock::now();
        rd_kafka_topic_partition_list_destroy(assigned);
      }
      if (!last_message && std::chrono::steady_clock::now() > join_deadline) {
        throw std::runtime_error("dlq replay: no partitions assigned for " + dlq_topic);
      }
    }
    rd_kafka_message_t* msg = rd_kafka_consumer_poll(rk, 100);
    if (msg == nullptr) continue;
    std::unique_ptr<rd_kafka_message_t, decltype(&rd_kafka_message_destroy)> m(msg, &rd_kafka_message_destroy);
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    if (const auto e = end.find(msg->partition); e != end.end() && msg->offset >= e->second) continue;  // newer
    last_message = std::chrono::steady_clock::now();
    next[msg->partition] = msg->offset + 1;
    const std::string original = Header(msg, "original-topic");
    if (original.empty()) {
      log::Warn("dlq message without original-topic; left alone", {{"offset", msg->offset}});
    } else {
      kafka::Message out;
      out.topic = original;
      if (msg->key != nullptr) out.key.assign(static_cast<const char*>(msg->key), msg->key_len);
      if (msg->payload != nullptr) out.value.assign(static_cast<const char*>(msg->payload), msg->len);
      for (auto& [k, v] : CopyHeaders(msg)) {
        if (k == "original-topic" || k == "original-partition" || k == "original-offset" || k == "consumer-group" ||
            k == "error" || k == "source") {
          continue;
        }
        out.headers.emplace_back(k, v);
      }
      out.headers.emplace_back("replayed-from", dlq_topic);
      const auto d = producer.ProduceAll({out}, 35s);
      if (!d[0].ok()) throw std::runtime_error("dlq replay: cannot publish to " + original);
      ++replayed;
    }
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, Topic(msg).c_str(), msg->partition)->offset = msg->offset + 1;
    rd_kafka_commit(rk, list, 0);
    rd_kafka_topic_partition_list_destroy(list);
  }
  return replayed;
}

// ---------------------------------------------------------------- broadcast

BroadcastConsumer::BroadcastConsumer(BroadcastOptions options, const kafka::Cluster& cluster, metrics::Registry* registry)
    : options_(std::move(options)), cluster_(cluster), registry_(registry) {}

BroadcastConsumer::~BroadcastConsumer() { Stop(); }

void BroadcastConsumer::On(std::string event_type, int max_version, MemoryHandler handler) {
  handlers_[std::move(event_type)] = {max_version, std::move(handler)};
}

void BroadcastConsumer::Count(const char* outcome) {
  if (registry_ == nullptr) return;
  registry_
      ->GetCounter("ticketd_consumer_events_total", "Events seen by consumers, by outcome",
                   {{"group", options_.name}, {"outcome", outcome}})
      .Inc();
}

bool BroadcastConsumer::Start() {
  // A group id of its own that never joins a group (assign, not subscribe)
  // and never commits.
  rk_ = NewConsumerHandle(cluster_, options_.name,
                          {{"group.id", "ticketd.memory." + options_.name + "." + NewUuid()},
                           {"enable.auto.commit", "false"}});
  const auto until = std::chrono::steady_clock::now() + options_.start_timeout;
  while (!TryAssign(1000) && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(100ms);
  if (!assigned_) log::Warn("kafka: memory consumer not assigned yet; retrying in the background", {{"name", options_.name}});
  thread_ = std::thread([this] { Run(); });
  return assigned_.load();
}

bool BroadcastConsumer::TryAssign(int timeout_ms) {
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(8);
  std::string failure;
  for (const auto& topic : options_.topics) {
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_, topic.c_str(), nullptr);
    const rd_kafka_metadata_t* md = nullptr;
    auto e = rd_kafka_metadata(rk_, 0, rkt, &md, timeout_ms);
    int partitions = 0;
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1) {
      e = md->topics[0].err;
      partitions = md->topics[0].partition_cnt;
    }
    if (md != nullptr) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR || partitions == 0) {
      failure = topic + ": " + (e != RD_KAFKA_RESP_ERR_NO_ERROR ? rd_kafka_err2str(e) : "no partitions");
      break;
    }
    for (int p = 0; p < partitions && failure.empty(); ++p) {
      int64_t low = 0;
      int64_t high = 0;
      e = rd_kafka_query_watermark_offsets(rk_, topic.c_str(), p, &low, &high, timeout_ms);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        failure = topic + ": " + rd_kafka_err2str(e);
      } else {
        rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = high;
      }
    }
    if (!failure.empty()) break;
  }
  if (failure.empty()) {
    const auto e = rd_kafka_assign(rk_, list);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) failure = std::string("assign: ") + rd_kafka_err2str(e);
  }
  rd_kafka_topic_partition_list_destroy(list);
  if (!failure.empty()) return false;
  assigned_ = true;
  log::Info("kafka: memory consumer reading from the end of its topics", {{"name", options_.name}});
  return true;
}

void BroadcastConsumer::Run() {
  auto backoff = 200ms;
  while (!stop_) {
    if (!assigned_) {
      if (!TryAssign(1000)) {
        // Stop() is not kept waiting for the whole backoff.
        const auto until = std::chrono::steady_clock::now() + backoff;
        while (!stop_ && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(50ms);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
      }
      continue;
    }
    rd_kafka_message_t* msg = rd_kafka_consumer_poll(rk_, 100);
    if (msg == nullptr) continue;
    std::unique_ptr<rd_kafka_message_t, decltype(&rd_kafka_message_destroy)> owned(msg, &rd_kafka_message_destroy);
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        log::Warn("kafka memory consumer error", {{"name", options_.name}, {"error", rd_kafka_message_errstr(msg)}});
      }
      continue;
    }
    Envelope env;
    try {
      env = Parse(std::string_view(static_cast<const char*>(msg->payload), msg->len));
    } catch (const std::exception&) {
      Count("skipped");
      continue;  // the module's own consumer dead-letters it
    }
    const auto it = handlers_.find(env.event_type);
    if (it == handlers_.end() || env.version > it->second.first) continue;  // not of interest here
    try {
      it->second.second(env);
      Count("applied");
    } catch (const std::exception& e) {
      Count("failed");
      log::Warn("kafka memory consumer: handler failed; event skipped",
                {{"name", options_.name}, {"event_type", env.event_type}, {"event_id", env.event_id}, {"error", e.what()}});
    }
  }
}

void BroadcastConsumer::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (rk_ != nullptr) {
    rd_kafka_consumer_close(rk_);
    rd_kafka_destroy(rk_);
    rk_ = nullptr;
  }
}

}  // namespace ticketd::events
