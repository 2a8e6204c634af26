#include "app/app.hpp"

#include <pthread.h>
#include <signal.h>

#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <fmt/format.h>
#include <chrono>
#include <iostream>
#include <thread>

#include "app/ops.hpp"
#include "core/event_consumer.hpp"
#include "core/kafka.hpp"
#include "core/outbox_relay.hpp"
#include "core/server.hpp"
#include "ticketd/core/db.hpp"
#include "ticketd/core/log.hpp"
#include "ticketd/core/metrics.hpp"
#include "ticketd/core/migrate.hpp"

namespace ticketd::app {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

http::ServerOptions ServerOptionsFrom(const config::Config& c) {
  http::ServerOptions o;
  o.host = c.String("server.host");
  o.port = static_cast<std::uint16_t>(c.Int("server.port"));
  o.io_threads = static_cast<int>(c.Int("server.io_threads"));
  if (o.io_threads == 0) o.io_threads = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  o.max_connections = static_cast<std::size_t>(c.Int("server.max_connections"));
  o.header_limit = static_cast<std::size_t>(c.Int("server.header_limit_bytes"));
  o.default_body_limit = static_cast<std::size_t>(c.Int("server.body_limit_bytes"));
  o.header_timeout = std::chrono::milliseconds(c.Int("server.header_timeout_ms"));
  o.body_timeout = std::chrono::milliseconds(c.Int("server.body_timeout_ms"));
  o.idle_timeout = std::chrono::milliseconds(c.Int("server.idle_timeout_ms"));
  o.write_timeout = std::chrono::milliseconds(c.Int("server.write_timeout_ms"));
  o.access_log = c.Bool("log.access_log");
  return o;
}

db::PoolOptions PoolOptionsFrom(const config::Config& c, std::string name, std::string conninfo, int size) {
  db::PoolOptions o;
  o.name = std::move(name);
  o.conninfo = std::move(conninfo);
  o.size = size;
  o.statement_timeout_ms = static_cast<int>(c.Int("database.statement_timeout_ms"));
  o.connect_timeout_ms = static_cast<int>(c.Int("database.connect_timeout_ms"));
  o.max_queue = static_cast<std::size_t>(c.Int("database.max_queue"));
  o.retry_attempts = static_cast<int>(c.Int("database.retry_attempts"));
  return o;
}

kafka::Options KafkaOptionsFrom(const config::Config& c) {
  kafka::Options o;
  o.brokers = c.String("kafka.brokers");
  o.embedded_brokers = static_cast<int>(c.Int("kafka.embedded_brokers"));
  o.partitions = static_cast<int>(c.Int("kafka.partitions"));
  o.replication_factor = static_cast<int>(c.Int("kafka.replication_factor"));
  o.client_id = c.String("kafka.client_id");
  o.message_timeout_ms = static_cast<int>(c.Int("kafka.message_timeout_ms"));
  for (const auto& kv : c.List("kafka.properties")) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw config::ConfigError("kafka.properties", "expected \"key=value\", got \"" + kv + "\"");
    }
    o.properties.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return o;
}

bool IsConnectionFailure(const std::exception& e) {
  return dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr;
}

// Applies migrations at start-up. Returns true when done; false when the
// database is unreachable (the caller retries in the background); throws for
// any other failure (e.g. an edited migration), which must stop the process.
bool TryMigrateOnStart(const config::Config& c) {
  try {
    Migrate(c);
    return true;
  } catch (const std::exception& e) {
    if (!IsConnectionFailure(e)) throw;
    log::Warn("database unreachable; migrations will be retried", {{"error", e.what()}});
    return false;
  }
}

}  // namespace

std::vector<std::string> AllTopics() {
  std::vector<std::string> topics{"reservation.events", "payment.events", "catalog.events", "queue.events"};
  const std::size_t n = topics.size();
  for (std::size_t i = 0; i < n; ++i) topics.push_back(kafka::DlqTopicFor(topics[i]));
  return topics;
}

int OutboxStatus(const config::Config& c) {
  pqxx::connection conn(c.String("database.url"));
  std::vector<std::string> schemas;
  {
    pqxx::nontransaction tx(conn);
    for (const auto& row : tx.exec("SELECT table_schema FROM information_schema.tables WHERE table_name = 'outbox' "
                                   "ORDER BY table_schema")) {
      schemas.push_back(row[0].as<std::string>());
    }
  }
  std::cout << fmt::format("{:<14}{:>10}{:>18}{:>10}{:>12}\n", "schema", "backlog", "oldest_age_s", "failed", "published");
  for (const auto& schema : schemas) {
    const auto s = events::ReadOutboxStatus(conn, schema);
    std::cout << fmt::format("{:<14}{:>10}{:>18.3f}{:>10}{:>12}\n", schema, s.backlog, s.oldest_age_seconds, s.failed,
                             s.published);
  }
  if (schemas.empty()) std::cout << "(no module outbox yet)\n";
  return kExitOk;
}

int DlqReplay(const config::Config& c, const std::string& topic) {
  const auto options = KafkaOptionsFrom(c);
  if (options.brokers == "embedded") {
    std::cerr << "ticketd: dlq replay needs real brokers: the embedded cluster lives inside the running server\n";
    return kExitConfig;
  }
  if (!topic.starts_with("dlq.")) {
    std::cerr << "ticketd: --topic must name a dead-letter topic (dlq.<name>)\n";
    return kExitConfig;
  }
  kafka::Cluster cluster(options);
  const auto n = events::ReplayDlq(cluster, topic, std::chrono::seconds(5));
  std::cout << "replayed " << n << " message(s) from " << topic << "\n";
  return kExitOk;
}

void ValidatePolicy(const config::Config& c) {
  (void)db::RebuildConninfo(c.String("database.url"), {});
  (void)KafkaOptionsFrom(c);
  if (c.String("server.environment") == "production") {
    if (c.String("kafka.brokers") == "embedded") {
      throw config::ConfigError("kafka.brokers", "\"embedded\" is for development and tests; production needs brokers");
    }
  }
}

int Migrate(const config::Config& c) {
  const auto migrations = db::EmbeddedMigrations();
  const auto applied = db::Migrate(c.String("database.url"), migrations, c.String("database.module_password"));
  log::Info("migrations current", {{"applied_now", static_cast<std::int64_t>(applied.size())},
                                   {"known", static_cast<std::int64_t>(migrations.size())}});
  return kExitOk;
}

int Serve(const config::Config& c) {
  // Signals are taken by sigwait below; every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  metrics::Registry registry;
  metrics::RegisterProcessMetrics(registry);
  registry.GetGauge("ticketd_build_info", "Build information", {{"version", TICKETD_VERSION_STRING}}).Set(1);

  const auto migrations = db::EmbeddedMigrations();
  std::atomic<bool> migrated{!c.Bool("database.migrate_on_start")};
  std::atomic<bool> stop_migrator{false};
  std::thread migrator;
  if (!migrated.load()) {
    try {
      migrated = TryMigrateOnStart(c);
    } catch (const std::exception& e) {
      log::Error("migration failed", {{"error", e.what()}});
      return kExitDatabase;
    }
    if (!migrated.load()) {
      migrator = std::thread([&] {
        while (!stop_migrator.load()) {
          std::this_thread::sleep_for(2s);
          try {
            if (TryMigrateOnStart(c)) {
              migrated = true;
              return;
            }
          } catch (const std::exception& e) {
            log::Error("migration failed; fix the schema and restart", {{"error", e.what()}});
            return;
          }
        }
      });
    }
  }

  db::Pool host_pool(PoolOptionsFrom(c, "host", c.String("database.url"), static_cast<int>(c.Int("database.host_pool_size"))),
                     &registry);

  // Kafka: the embedded cluster (dev/tests) or real brokers, the topics, and
  // the idempotent producer the outbox relays share. A broker outage never
  // blocks requests: events wait in the outboxes.
  std::unique_ptr<kafka::Cluster> kafka_cluster;
  std::unique_ptr<kafka::Producer> producer;
  try {
    kafka_cluster = std::make_unique<kafka::Cluster>(KafkaOptionsFrom(c));
    try {
      kafka_cluster->EnsureTopics(AllTopics());
    } catch (const std::exception& e) {
      log::Warn("kafka topics not created; relays will retry publishing", {{"error", e.what()}});
    }
    producer = std::make_unique<kafka::Producer>(*kafka_cluster, "relay");
  } catch (const std::exception& e) {
    log::Error("kafka setup failed", {{"error", e.what()}});
    stop_migrator = true;
    if (migrator.joinable()) migrator.join();
    return kExitFailure;
  }
  // One relay per module outbox; modules register theirs as they land.
  std::vector<std::unique_ptr<events::OutboxRelay>> relays;

  http::Router router;
  http::Server* server_ptr = nullptr;
  std::vector<ReadinessCheck> checks;
  checks.push_back({"draining", [&server_ptr]() -> asio::awaitable<std::optional<std::string>> {
                      if (server_ptr != nullptr && server_ptr->draining()) co_return "shutting down";
                      co_return std::nullopt;
                    }});
  checks.push_back({"postgres", [&]() -> asio::awaitable<std::optional<std::string>> {
                      try {
                        const auto status = co_await host_pool.Run(
                            [&](pqxx::connection& conn) { return db::CheckMigrations(conn, migrations); });
                        if (!status.problems.empty()) co_return "migrations: " + status.problems.front();
                        if (status.pending > 0) {
                          co_return "migrations: " + std::to_string(status.pending) + " pending";
                        }
                      } catch (const DependencyUnavailable& e) {
                        co_return std::string("unreachable: ") + e.reason();
                      }
                      co_return std::nullopt;
                    }});
  checks.push_back({"kafka", [&producer]() -> asio::awaitable<std::optional<std::string>> {
                      // Producer health, not broker reachability: a broker outage is absorbed by the outboxes.
                      if (!producer->Healthy()) co_return "producer failed: " + producer->FatalError();
                      co_return std::nullopt;
                    }});
  AddOpsRoutes(router, std::move(checks), registry);

  http::Server server(ServerOptionsFrom(c), router, registry);
  server_ptr = &server;
  try {
    server.Start();
  } catch (const std::exception& e) {
    log::Error("cannot start", {{"error", e.what()}});
    stop_migrator = true;
    if (migrator.joinable()) migrator.join();
    return kExitFailure;
  }
  log::Info("listening", {{"host", c.String("server.host")},
                          {"port", server.port()},
                          {"io_threads", ServerOptionsFrom(c).io_threads},
                          {"environment", c.String("server.environment")},
                          {"version", TICKETD_VERSION_STRING}});

  int sig = 0;
  sigwait(&signals, &sig);
  log::Info("shutdown requested; draining", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"},
                                             {"in_flight", server.InFlight()}});
  server.BeginDrain();
  const bool clean = server.Stop(std::chrono::milliseconds(c.Int("server.drain_timeout_ms")));
  for (auto& relay : relays) relay->Stop();
  producer.reset();
  kafka_cluster.reset();
  stop_migrator = true;
  if (migrator.joinable()) migrator.join();
  host_pool.Stop();
  log::Info("stopped", {{"drained_cleanly", clean}});
  return kExitOk;
}

}  // namespace ticketd::app
