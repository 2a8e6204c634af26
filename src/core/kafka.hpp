#pragma once
// Kafka plumbing over librdkafka: the cluster (librdkafka's in-process mock
// cluster when brokers = "embedded", else real brokers), topic creation, and an
// idempotent producer that reports the outcome of every message.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace ticketd::kafka {

struct Options {
  std::string brokers = "embedded";
  int embedded_brokers = 3;
  int partitions = 3;
  int replication_factor = 1;
  std::string client_id = "ticketd";
  /// Passed to every client as is (e.g. security.protocol, sasl.*).
  std::vector<std::pair<std::string, std::string>> properties;
  int message_timeout_ms = 30000;
  /// compression.type of the producer: none, gzip (default: every mainstream
  /// client reads it without plugins, e.g. kafkajs), snappy, lz4, zstd.
  std::string compression = "gzip";
};

/// Topic stem → dead-letter topic: "payment.events" → "dlq.payment".
std::string DlqTopicFor(const std::string& topic);

class Cluster {
 public:
  /// Starts the embedded mock cluster when options.brokers == "embedded".
  /// Throws std::runtime_error when librdkafka refuses the configuration.
  explicit Cluster(Options options);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  [[nodiscard]] const std::string& bootstrap() const noexcept { return bootstrap_; }
  [[nodiscard]] bool embedded() const noexcept { return mock_ != nullptr; }
  [[nodiscard]] rd_kafka_mock_cluster_t* mock() const noexcept { return mock_; }
  [[nodiscard]] const Options& options() const noexcept { return options_; }

  /// A client configuration with bootstrap servers, client id and the
  /// pass-through properties; the caller owns it. Throws on a bad property.
  [[nodiscard]] rd_kafka_conf_t* NewConf(const std::string& client_suffix) const;
  /// Creates the topics that do not exist yet (partitions and replication
  /// from the options, replication capped at the broker count). Throws
  /// std::runtime_error on failure.
  void EnsureTopics(const std::vector<std::string>& topics) const;

 private:
  Options options_;
  rd_kafka_t* mock_owner_ = nullptr;
  rd_kafka_mock_cluster_t* mock_ = nullptr;
  std::string bootstrap_;
};

/// Sets a property on a conf; throws std::runtime_error naming it on failure.
void SetConf(rd_kafka_conf_t* conf, const std::string& key, const std::string& value);

struct Message {
  std::string topic;
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct Delivery {
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;  // until the report arrives
  bool reported = false;
  [[nodiscard]] bool ok() const noexcept { return reported && err == RD_KAFKA_RESP_ERR_NO_ERROR; }
};

/// Errors that trying again later can fix (broker down, timeouts, leader
/// changes); false for errors that will repeat (message too large, invalid
/// message, authorization).
bool IsRetryable(rd_kafka_resp_err_t err);

class Producer {
 public:
  /// An idempotent producer (enable.idempotence=true, acks=all).
  Producer(const Cluster& cluster, const std::string& name);
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  /// Produces every message and waits until each has a delivery report or
  /// `timeout` passes (unreported ones stay `reported == false`). Messages
  /// with the same key go to the same partition in order. Thread-safe.
  std::vector<Delivery> ProduceAll(const std::vector<Message>& messages, std::chrono::milliseconds timeout);
  /// False after a fatal (idempotence) error: the producer must be recreated.
  [[nodiscard]] bool Healthy() const;
  [[nodiscard]] std::string FatalError() const;
  [[nodiscard]] rd_kafka_t* handle() const noexcept { return rk_; }

 private:
  rd_kafka_t* rk_ = nullptr;
};

}  // namespace ticketd::kafka
