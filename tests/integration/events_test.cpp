// Outbox, relay and consumers against real Postgres and librdkafka's mock
// cluster (3 brokers, in-process).
#include <doctest/doctest.h>

#include <boost/json.hpp>

#include <pqxx/pqxx>

#include <atomic>
#include <map>
#include <thread>

#include "core/event_consumer.hpp"
#include "core/kafka.hpp"
#include "core/outbox_relay.hpp"
#include "support/pg.hpp"
#include "ticketd/core/db.hpp"
#include "ticketd/core/events.hpp"
#include "ticketd/core/metrics.hpp"
#include "ticketd/core/migrate.hpp"

using namespace ticketd;
using namespace std::chrono_literals;

namespace {

constexpr const char* kTopic = "alpha.events";

kafka::Options MockOptions(int message_timeout_ms = 10000) {
  kafka::Options o;
  o.brokers = "embedded";
  o.embedded_brokers = 3;
  o.partitions = 3;
  o.replication_factor = 1;
  o.message_timeout_ms = message_timeout_ms;
  return o;
}

db::PoolOptions PoolFor(const std::string& conninfo, const std::string& name) {
  db::PoolOptions o;
  o.name = name;
  o.conninfo = conninfo;
  o.size = 2;
  return o;
}

// alpha produces events; beta consumes them and records every application
// (no unique key on event_id: only processed_events makes them idempotent).
struct Fixture {
  explicit Fixture(int message_timeout_ms = 10000) : cluster(MockOptions(message_timeout_ms)) {
    db::Migrate(db.url(),
                {db::MakeMigration("alpha", 1, "outbox", events::OutboxDdl("alpha")),
                 db::MakeMigration("beta", 1, "inbox",
                                   events::OutboxDdl("beta") +
                                       "CREATE TABLE beta.applied (id bigserial PRIMARY KEY, event_id uuid NOT NULL,"
                                       " aggregate_id text NOT NULL, seq int NOT NULL);")},
                "");
    cluster.EnsureTopics({kTopic, kafka::DlqTopicFor(kTopic)});
  }
  std::string Role(const std::string& module) const { return db::WithCredentials(db.url(), db::ModuleRole(module), ""); }

  events::RelayOptions Relay() const {
    events::RelayOptions o;
    o.schema = "alpha";
    o.conninfo = Role("alpha");
    o.poll_interval = 200ms;
    o.lock_retry = 200ms;
    o.backoff_max = 1s;
    o.produce_timeout = 15s;
    return o;
  }
  events::ConsumerOptions Consumer() const {
    events::ConsumerOptions o;
    o.group_id = "ticketd.beta";
    o.schema = "beta";
    o.topics = {kTopic};
    o.max_attempts = 3;
    o.backoff_initial = 20ms;
    o.backoff_max = 200ms;
    o.session_timeout_ms = 6000;
    return o;
  }

  test::TempDatabase db;
  kafka::Cluster cluster;
  metrics::Registry registry;
};

// Writes `per_aggregate` events for each of `aggregates` aggregates,
// interleaved, `per_tx` events per transaction.
void WriteEvents(db::Pool& pool, int aggregates, int per_aggregate, int per_tx = 100, int first_seq = 0) {
  std::vector<std::pair<std::string, int>> all;
  for (int seq = first_seq; seq < first_seq + per_aggregate; ++seq) {
    for (int a = 0; a < aggregates; ++a) all.emplace_back("agg-" + std::to_string(a), seq);
  }
  for (std::size_t i = 0; i < all.size(); i += static_cast<std::size_t>(per_tx)) {
    pool.TransactSync([&](pqxx::work& tx) {
      for (std::size_t j = i; j < std::min(all.size(), i + static_cast<std::size_t>(per_tx)); ++j) {
        events::AppendToOutbox(tx, "alpha", kTopic,
                               events::Make("Tested", "Thing", all[j].first, {{"seq", all[j].second}}));
      }
    });
  }
}

void ApplyTested(pqxx::work& tx, const events::Envelope& e) {
  tx.exec_params0("INSERT INTO beta.applied (event_id, aggregate_id, seq) VALUES ($1::uuid, $2, $3)", e.event_id,
                  e.aggregate_id, static_cast<int>(e.payload.at("seq").as_int64()));
}

long long Scalar(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  return pqxx::nontransaction(c).exec1(sql)[0].as<long long>();
}

std::string Text(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  const auto f = pqxx::nontransaction(c).exec1(sql)[0];
  return f.is_null() ? std::string{} : f.as<std::string>();
}

bool WaitFor(const std::function<bool()>& cond, std::chrono::seconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return cond();
}

// Every event applied exactly once, and per aggregate in the order written.
void CheckAppliedOnceInOrder(const std::string& url, long long expected) {
  CHECK(Scalar(url, "SELECT count(*) FROM beta.applied") == expected);
  CHECK(Scalar(url, "SELECT count(DISTINCT event_id) FROM beta.applied") == expected);
  CHECK(Scalar(url,
               "SELECT count(*) FROM (SELECT seq, lag(seq) OVER (PARTITION BY aggregate_id ORDER BY id) AS prev"
               " FROM beta.applied) s WHERE prev IS NOT NULL AND seq <= prev") == 0);
}

std::vector<std::string> ReadTopic(const kafka::Cluster& cluster, const std::string& topic, std::size_t expected,
                                   std::chrono::seconds timeout) {
  rd_kafka_conf_t* conf = cluster.NewConf("reader");
  kafka::SetConf(conf, "group.id", "reader-" + std::to_string(std::rand()));
  kafka::SetConf(conf, "auto.offset.reset", "earliest");
  char err[256];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  REQUIRE(rk != nullptr);
  rd_kafka_poll_set_consumer(rk);
  auto* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  std::vector<std::string> out;
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (out.size() < expected && std::chrono::steady_clock::now() < until) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) out.emplace_back(static_cast<const char*>(m->payload), m->len);
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return out;
}

}  // namespace

TEST_CASE("outbox: a rolled-back transaction leaves no event — a committed one does") {
  Fixture f;
  db::Pool alpha(PoolFor(f.Role("alpha"), "alpha"), nullptr);
  CHECK_THROWS_AS(alpha.TransactSync([](pqxx::work& tx) {
    events::AppendToOutbox(tx, "alpha", kTopic, events::Make("Tested", "Thing", "a", {{"seq", 1}}));
    throw std::runtime_error("business rule failed after the event was written");
  }),
                  std::runtime_error);
  CHECK(Scalar(f.db.url(), "SELECT count(*) FROM alpha.outbox") == 0);
  alpha.TransactSync([](pqxx::work& tx) {
    events::AppendToOutbox(tx, "alpha", kTopic, events::Make("Tested", "Thing", "a", {{"seq", 1}}));
  });
  CHECK(Scalar(f.db.url(), "SELECT count(*) FROM alpha.outbox WHERE published_at IS NULL") == 1);
  // The module role cannot write another module's outbox.
  CHECK_THROWS(alpha.TransactSync([](pqxx::work& tx) {
    events::AppendToOutbox(tx, "beta", "beta.events", events::Make("Tested", "Thing", "a", {}));
  }));
}

TEST_CASE("events: 10000 events over 100 aggregates arrive once each and in order per aggregate") {
  Fixture f;
  db::Pool alpha(PoolFor(f.Role("alpha"), "alpha"), nullptr);
  db::Pool beta(PoolFor(f.Role("beta"), "beta"), nullptr);
  kafka::Producer producer(f.cluster, "relay");
  WriteEvents(alpha, 100, 100);
  events::OutboxRelay relay(f.Relay(), producer, &f.registry);
  events::EventConsumer consumer(f.Consumer(), f.cluster, beta, producer, &f.registry);
  consumer.On("Tested", 1, ApplyTested);
  relay.Start();
  consumer.Start();
  REQUIRE(WaitFor([&] { return Scalar(f.db.url(), "SELECT count(*) FROM beta.applied") >= 10000; }, 240s));
  std::this_thread::sleep_for(500ms);
  CheckAppliedOnceInOrder(f.db.url(), 10000);
  REQUIRE(WaitFor([&] { return Scalar(f.db.url(), "SELECT count(*) FROM alpha.outbox WHERE published_at IS NULL") == 0; }, 10s));
  CHECK(f.registry.Render().find("ticketd_outbox_published_total{schema=\"alpha\"} 10000") != std::string::npos);
}

TEST_CASE("events: brokers down while writes continue — everything arrives after they return") {
  Fixture f(3000);
  db::Pool alpha(PoolFor(f.Role("alpha"), "alpha"), nullptr);
  db::Pool beta(PoolFor(f.Role("beta"), "beta"), nullptr);
  kafka::Producer producer(f.cluster, "relay");
  events::OutboxRelay relay(f.Relay(), producer, &f.registry);
  events::EventConsumer consumer(f.Consumer(), f.cluster, beta, producer, &f.registry);
  consumer.On("Tested", 1, ApplyTested);
  relay.Start();
  consumer.Start();
  WriteEvents(alpha, 10, 5);
  REQUIRE(WaitFor([&] { return Scalar(f.db.url(), "SELECT count(*) FROM beta.applied") == 50; }, 60s));

  for (int id = 1; id <= 3; ++id) rd_kafka_mock_broker_set_down(f.cluster.mock(), id);
  WriteEvents(alpha, 10, 20, 10, 5);  // writes keep succeeding
  std::this_thread::sleep_for(4s);   // longer than message.timeout.ms: deliveries fail and are retried
  const auto during = Scalar(f.db.url(), "SELECT count(*) FROM alpha.outbox WHERE published_at IS NULL");
  CHECK(during > 0);
  for (int id = 1; id <= 3; ++id) rd_kafka_mock_broker_set_up(f.cluster.mock(), id);

  REQUIRE(WaitFor([&] { return Scalar(f.db.url(), "SELECT count(*) FROM beta.applied") >= 250; }, 120s));
  std::this_thread::sleep_for(500ms);
  CheckAppliedOnceInOrder(f.db.url(), 250);
  CHECK(Scalar(f.db.url(), "SELECT count(*) FROM alpha.outbox WHERE failed_at IS NOT NULL") == 0);
}

TEST_CASE("events: relay killed after produce, before marking → delivered twice, applied once") {
  Fixture f;
  db::Pool alpha(PoolFor(f.Role("alpha"), "alpha"), nullptr);
  db::Pool beta(PoolFor(f.Role("beta"), "beta"), nullptr);
  kafka::Producer producer(f.cluster, "relay");
  WriteEvents(alpha, 5, 10);
  auto options = f.Relay();
  std::atomic<int> crashes{0};
  options.after_produce_for_testing = [&] {
    if (crashes.fetch_add(1) == 0) throw std::runtime_error("relay killed after produce");
  };
  events::OutboxRelay relay(options, producer, &f.registry);
  events::EventConsumer consumer(f.Consumer(), f.cluster, beta, producer, &f.registry);
  consumer.On("Tested", 1, ApplyTested);
  relay.Start();
  consumer.Start();
  REQUIRE(WaitFor([&] { return Scalar(f.db.url(), "SELECT count(*) FROM alpha.outbox WHERE published_at IS NULL") == 0; }, 60s));
  REQUIRE(WaitFor([&] {
    return f.registry.Render().find(R"(ticketd_consumer_events_total{group="ticketd.beta",outcome="duplicate"} 50)") !=
           std::string::npos;
  }, 60s));
  CheckAppliedOnceInOrder(f.db.url(), 50);
}

TEST_CASE("events: consumer stopped before storing its offset → redelivered, applied once") {
  Fixture f;
  db::Pool alpha(PoolFor(f.Role("alpha"), "alpha"), nullptr);
  db::Pool beta(PoolFor(f.Role("beta"), "beta"), nullptr);
  kafka::Producer producer(f.cluster, "relay");
  WriteEvents(alpha, 1, 20);
  events::OutboxRelay relay(f.Relay(), producer, &f.registry);
  relay.Start();
  {
    auto options = f.Consumer();
    std::atomic<int> seen{0};
    options.crash_before_offset_store_for_testing = [&](const events::Envelope&) { return ++seen == 5; };
    events::EventConsumer first(options, f.cluster, beta, producer, &f.registry);
    first.On("Tested", 1, ApplyTested);
    first.Start();
    REQUIRE(WaitFor([&] { return !first.running(); }, 60s));
    CHECK(Scalar(f.db.url(), "SELECT count(*) FROM beta.applied") == 5);
  }
  events::EventConsumer second(f.Consumer(), f.cluster, beta, producer, &f.registry);
  second.On("Tested", 1, ApplyTested);
  second.Start();
  REQUIRE(WaitFor([&] { return Scalar(f.db.url(), "SELECT count(*) FROM beta.applied") >= 20; }, 60s));
  std::this_thread::sleep_for(500ms);
  CheckAppliedOnceInOrder(f.db.url(), 20);
  CHECK(f.registry.Render().find(R"(outcome="duplicate"})") != std::string::npos);
}

TEST_CASE("events: poison message → DLQ and the partition moves on — unknown types skipped — replay puts it back") {
  Fixture f;
  db::Pool alpha(PoolFor(f.Role("alpha"), "alpha"), nullptr);
  db::Pool beta(PoolFor(f.Role("beta"), "beta"), nullptr);
  kafka::Producer producer(f.cluster, "relay");
  std::atomic<bool> fixed{false};
  alpha.TransactSync([](pqxx::work& tx) {
    events::AppendToOutbox(tx, "alpha", kTopic, events::Make("Tested", "Thing", "one", {{"seq", 1}}));
    events::AppendToOutbox(tx, "alpha", kTopic, events::Make("Tested", "Thing", "one", {{"seq", 2}, {"poison", true}}));
    events::AppendToOutbox(tx, "alpha", kTopic, events::Make("Tested", "Thing", "one", {{"seq", 3}}));
    events::AppendToOutbox(tx, "alpha", kTopic, events::Make("SomethingNew", "Thing", "one", {{"seq", 4}}));
    events::AppendToOutbox(tx, "alpha", kTopic, events::Make("Tested", "Thing", "one", {{"seq", 5}}, {}, 9));
  });
  events::OutboxRelay relay(f.Relay(), producer, &f.registry);
  events::EventConsumer consumer(f.Consumer(), f.cluster, beta, producer, &f.registry);
  consumer.On("Tested", 1, [&](pqxx::work& tx, const events::Envelope& e) {
    if (e.payload.contains("poison") && !fixed.load()) throw std::runtime_error("cannot apply this event");
    ApplyTested(tx, e);
  });
  relay.Start();
  consumer.Start();
  // An unparseable message straight onto the topic.
  REQUIRE(producer.ProduceAll({{kTopic, "one", "{not an envelope", {}}}, 10s)[0].ok());

  // seq 1 and 3 apply; 2 (poison) and the garbage go to the DLQ; 4 (unknown
  // type) and 5 (newer version than the handler knows) are skipped.
  REQUIRE(WaitFor([&] { return Scalar(f.db.url(), "SELECT count(*) FROM beta.applied") == 2; }, 60s));
  CHECK(Text(f.db.url(), "SELECT string_agg(seq::text, ',' ORDER BY id) FROM beta.applied") == "1,3");
  const auto dlq = ReadTopic(f.cluster, "dlq.alpha", 2, 30s);
  REQUIRE(dlq.size() == 2);
  const auto metrics = f.registry.Render();
  CHECK(metrics.find(R"(ticketd_consumer_events_total{group="ticketd.beta",outcome="dead_lettered"} 2)") != std::string::npos);
  CHECK(metrics.find(R"(ticketd_consumer_events_total{group="ticketd.beta",outcome="skipped"} 2)") != std::string::npos);

  // The handler is fixed; the manual replay re-publishes both DLQ messages.
  fixed = true;
  CHECK(events::ReplayDlq(f.cluster, "dlq.alpha", 15s) == 2);  // returns as soon as the DLQ is drained
  REQUIRE(WaitFor([&] { return Scalar(f.db.url(), "SELECT count(*) FROM beta.applied") == 3; }, 60s));
  CHECK(Text(f.db.url(), "SELECT string_agg(seq::text, ',' ORDER BY seq) FROM beta.applied") == "1,2,3");
  // The garbage is still garbage: it is dead-lettered again, nothing else.
  CHECK(ReadTopic(f.cluster, "dlq.alpha", 3, 30s).size() == 3);
}

TEST_CASE("events: a non-retryable publish failure goes to the DLQ after N attempts — others flow") {
  Fixture f;
  db::Pool alpha(PoolFor(f.Role("alpha"), "alpha"), nullptr);
  kafka::Producer producer(f.cluster, "relay");
  alpha.TransactSync([](pqxx::work& tx) {
    events::AppendToOutbox(tx, "alpha", kTopic, events::Make("Tested", "Thing", "a", {{"seq", 1}}));
    // Larger than the producer's message.max.bytes (1 MB): MSG_SIZE_TOO_LARGE.
    events::AppendToOutbox(tx, "alpha", kTopic,
                           events::Make("Tested", "Thing", "b", {{"seq", 2}, {"blob", std::string(1200 * 1024, 'x')}}));
    events::AppendToOutbox(tx, "alpha", kTopic, events::Make("Tested", "Thing", "c", {{"seq", 3}}));
  });
  auto options = f.Relay();
  options.max_attempts = 3;
  options.backoff_initial = 20ms;
  events::OutboxRelay relay(options, producer, &f.registry);
  relay.Start();
  REQUIRE(WaitFor([&] { return Scalar(f.db.url(), "SELECT count(*) FROM alpha.outbox WHERE failed_at IS NOT NULL") == 1; }, 30s));
  CHECK(Scalar(f.db.url(), "SELECT count(*) FROM alpha.outbox WHERE published_at IS NOT NULL") == 2);
  CHECK(Scalar(f.db.url(), "SELECT attempts FROM alpha.outbox WHERE failed_at IS NOT NULL") == 3);
  CHECK(Text(f.db.url(), "SELECT last_error FROM alpha.outbox WHERE failed_at IS NOT NULL").find("too large") != std::string::npos);
  const auto dlq = ReadTopic(f.cluster, "dlq.alpha", 1, 30s);
  REQUIRE(dlq.size() == 1);
  CHECK(boost::json::parse(dlq[0]).at("truncated").as_bool());
  pqxx::connection c(f.Role("alpha"));
  const auto status = events::ReadOutboxStatus(c, "alpha");
  CHECK(status.backlog == 0);
  CHECK(status.failed == 1);
  CHECK(status.published == 2);
}

TEST_CASE("events: two relays on one outbox → one publishes — the other takes over when it stops") {
  Fixture f;
  db::Pool alpha(PoolFor(f.Role("alpha"), "alpha"), nullptr);
  db::Pool beta(PoolFor(f.Role("beta"), "beta"), nullptr);
  kafka::Producer producer_a(f.cluster, "relay-a");
  kafka::Producer producer_b(f.cluster, "relay-b");
  auto a = std::make_unique<events::OutboxRelay>(f.Relay(), producer_a, nullptr);
  auto b = std::make_unique<events::OutboxRelay>(f.Relay(), producer_b, nullptr);
  events::EventConsumer consumer(f.Consumer(), f.cluster, beta, producer_a, &f.registry);
  consumer.On("Tested", 1, ApplyTested);
  a->Start();
  b->Start();
  consumer.Start();
  REQUIRE(WaitFor([&] { return a->leader() || b->leader(); }, 30s));
  std::this_thread::sleep_for(500ms);
  CHECK(a->leader() != b->leader());  // exactly one
  WriteEvents(alpha, 10, 10);
  REQUIRE(WaitFor([&] { return Scalar(f.db.url(), "SELECT count(*) FROM beta.applied") == 100; }, 60s));

  auto& leader = a->leader() ? a : b;
  auto& follower = a->leader() ? b : a;
  leader->Stop();
  REQUIRE(WaitFor([&] { return follower->leader(); }, 30s));
  WriteEvents(alpha, 10, 10, 100, 10);
  REQUIRE(WaitFor([&] { return Scalar(f.db.url(), "SELECT count(*) FROM beta.applied") >= 200; }, 60s));
  std::this_thread::sleep_for(500ms);
  CheckAppliedOnceInOrder(f.db.url(), 200);
}

TEST_CASE("events: published rows are purged after the retention") {
  Fixture f;
  db::Pool alpha(PoolFor(f.Role("alpha"), "alpha"), nullptr);
  kafka::Producer producer(f.cluster, "relay");
  WriteEvents(alpha, 2, 5);
  {
    events::OutboxRelay relay(f.Relay(), producer, nullptr);
    relay.Start();
    REQUIRE(WaitFor([&] { return Scalar(f.db.url(), "SELECT count(*) FROM alpha.outbox WHERE published_at IS NOT NULL") == 10; }, 30s));
  }
  CHECK(Scalar(f.db.url(), "SELECT count(*) FROM alpha.outbox") == 10);  // kept within the retention
  WriteEvents(alpha, 1, 1);
  auto options = f.Relay();
  options.retention = 0s;
  events::OutboxRelay relay(options, producer, nullptr);
  relay.Start();
  REQUIRE(WaitFor([&] { return Scalar(f.db.url(), "SELECT count(*) FROM alpha.outbox WHERE published_at IS NULL") == 0; }, 30s));
  // The first pass purged the 10 old rows; the new one is purged on the next pass (a minute later).
  REQUIRE(WaitFor([&] { return Scalar(f.db.url(), "SELECT count(*) FROM alpha.outbox") <= 1; }, 30s));
}
