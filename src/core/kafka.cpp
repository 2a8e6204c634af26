#include "core/kafka.hpp"

#include <algorithm>
#include <atomic>
#include <memory>
#include <stdexcept>
#include <thread>

#include "ticketd/core/log.hpp"

namespace ticketd::kafka {

namespace {

// One batch's shared state; every in-flight message holds a reference, so a
// delivery report arriving after ProduceAll gave up never touches freed memory.
struct Batch {
  std::mutex mu;
  std::vector<Delivery> results;
  std::size_t pending = 0;
};

struct Slot {
  std::shared_ptr<Batch> batch;
  std::size_t index;
};

void OnDelivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* msg, void* /*opaque*/) {
  std::unique_ptr<Slot> slot(static_cast<Slot*>(msg->_private));
  if (!slot) return;
  std::lock_guard lock(slot->batch->mu);
  auto& d = slot->batch->results[slot->index];
  d.err = msg->err;
  d.reported = true;
  --slot->batch->pending;
}

void OnLog(const rd_kafka_t* /*rk*/, int level, const char* fac, const char* buf) {
  if (level <= 3) {
    log::Error("kafka", {{"facility", fac}, {"message", buf}});
  } else if (level <= 4) {
    log::Warn("kafka", {{"facility", fac}, {"message", buf}});
  } else {
    log::Debug("kafka", {{"facility", fac}, {"message", buf}});
  }
}

}  // namespace

std::string DlqTopicFor(const std::string& topic) {
  constexpr std::string_view kSuffix = ".events";
  std::string stem = topic;
  if (stem.size() > kSuffix.size() && stem.ends_with(kSuffix)) stem.resize(stem.size() - kSuffix.size());
  return "dlq." + stem;
}

void SetConf(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    throw std::runtime_error("kafka property " + key + ": " + err);
  }
}

bool IsRetryable(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
      return false;
    default:
      return true;
  }
}

Cluster::Cluster(Options options) : options_(std::move(options)) {
  if (options_.brokers != "embedded") {
    bootstrap_ = options_.brokers;
    return;
  }
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, OnLog);
  char err[512];
  mock_owner_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (mock_owner_ == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("kafka: cannot create the embedded cluster's owner: ") + err);
  }
  mock_ = rd_kafka_mock_cluster_new(mock_owner_, options_.embedded_brokers);
  if (mock_ == nullptr) throw std::runtime_error("kafka: cannot start the embedded mock cluster");
  bootstrap_ = rd_kafka_mock_cluster_bootstraps(mock_);
  log::Info("embedded kafka started", {{"brokers", options_.embedded_brokers}, {"bootstrap", bootstrap_}});
}

Cluster::~Cluster() {
  if (mock_ != nullptr) rd_kafka_mock_cluster_destroy(mock_);
  if (mock_owner_ != nullptr) rd_kafka_destroy(mock_owner_);
}

rd_kafka_conf_t* Cluster::NewConf(const std::string& client_suffix) const {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  try {
    SetConf(conf, "bootstrap.servers", bootstrap_);
    SetConf(conf, "client.id", options_.client_id + "-" + client_suffix);
    for (const auto& [k, v] : options_.properties) SetConf(conf, k, v);
  } catch (...) {
    rd_kafka_conf_destroy(conf);
    throw;
  }
  rd_kafka_conf_set_log_cb(conf, OnLog);
  return conf;
}

void Cluster::EnsureTopics(const std::vector<std::string>& topics) const {
  if (mock_ != nullptr) {
    const int rf = std::min(options_.replication_factor, options_.embedded_brokers);
    for (const auto& t : topics) {
      // Creating an existing topic in the mock is an error we can ignore.
      rd_kafka_mock_topic_create(mock_, t.c_str(), options_.partitions, rf);
    }
    return;
  }
  char err[512];
  rd_kafka_conf_t* conf = NewConf("admin");
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("kafka admin client: ") + err);
  }
  std::unique_ptr<rd_kafka_t, decltype(&rd_kafka_destroy)> rk_guard(rk, &rd_kafka_destroy);
  std::vector<rd_kafka_NewTopic_t*> new_topics;
  for (const auto& t : topics) {
    new_topics.push_back(
        rd_kafka_NewTopic_new(t.c_str(), options_.partitions, options_.replication_factor, err, sizeof err));
    if (new_topics.back() == nullptr) throw std::runtime_error("kafka topic " + t + ": " + err);
  }
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(opts, 10000, err, sizeof err);
  rd_kafka_CreateTopics(rk, new_topics.data(), new_topics.size(), opts, queue);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(queue, 15000);
  std::string failure;
  if (ev == nullptr) {
    failure = "timed out creating topics";
  } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    failure = rd_kafka_event_error_string(ev);
  } else {
    const auto* res = rd_kafka_event_CreateTopics_result(ev);
    size_t n = 0;
    const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(res, &n);
    for (size_t i = 0; i < n; ++i) {
      const auto e = rd_kafka_topic_result_error(results[i]);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        failure = std::string(rd_kafka_topic_result_name(results[i])) + ": " + rd_kafka_topic_result_error_string(results[i]);
      }
    }
  }
  if (ev != nullptr) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_queue_destroy(queue);
  rd_kafka_NewTopic_destroy_array(new_topics.data(), new_topics.size());
  if (!failure.empty()) throw std::runtime_error("kafka: cannot create topics: " + failure);
}

Producer::Producer(const Cluster& cluster, const std::string& name) {
  rd_kafka_conf_t* conf = cluster.NewConf(name);
  try {
    SetConf(conf, "enable.idempotence", "true");
    SetConf(conf, "acks", "all");
    SetConf(conf, "message.timeout.ms", std::to_string(cluster.options().message_timeout_ms));
    SetConf(conf, "linger.ms", "5");
    SetConf(conf, "compression.type", cluster.options().compression);
  } catch (...) {
    rd_kafka_conf_destroy(conf);
    throw;
  }
  rd_kafka_conf_set_dr_msg_cb(conf, OnDelivery);
  char err[512];
  rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk_ == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("kafka producer: ") + err);
  }
}

Producer::~Producer() {
  rd_kafka_flush(rk_, 2000);
  // Whatever is left is failed back to its (dropped) batch; the outbox keeps it.
  rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  rd_kafka_poll(rk_, 0);
  rd_kafka_destroy(rk_);
}

bool Producer::Healthy() const {
  char buf[256];
  return rd_kafka_fatal_error(rk_, buf, sizeof buf) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

std::string Producer::FatalError() const {
  char buf[256];
  if (rd_kafka_fatal_error(rk_, buf, sizeof buf) == RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  return buf;
}

std::vector<Delivery> Producer::ProduceAll(const std::vector<Message>& messages, std::chrono::milliseconds timeout) {
  auto batch = std::make_shared<Batch>();
  batch->results.resize(messages.size());
  batch->pending = messages.size();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const auto& m = messages[i];
    for (;;) {
      rd_kafka_headers_t* headers = rd_kafka_headers_new(m.headers.size());
      for (const auto& [k, v] : m.headers) {
        rd_kafka_header_add(headers, k.data(), static_cast<ssize_t>(k.size()), v.data(), static_cast<ssize_t>(v.size()));
      }
      auto* slot = new Slot{batch, i};
      const rd_kafka_resp_err_t err = rd_kafka_producev(
          rk_, RD_KAFKA_V_TOPIC(m.topic.c_str()), RD_KAFKA_V_KEY(m.key.data(), m.key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(m.value.data()), m.value.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(slot), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      delete slot;
      rd_kafka_headers_destroy(headers);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && std::chrono::steady_clock::now() < deadline) {
        rd_kafka_poll(rk_, 50);
        continue;
      }
      std::lock_guard lock(batch->mu);
      batch->results[i].err = err;
      batch->results[i].reported = true;
      --batch->pending;
      break;
    }
  }
  for (;;) {
    {
      std::lock_guard lock(batch->mu);
      if (batch->pending == 0) break;
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    rd_kafka_poll(rk_, 20);
  }
  std::lock_guard lock(batch->mu);
  return batch->results;
}

}  // namespace ticketd::kafka
