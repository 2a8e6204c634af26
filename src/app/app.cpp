#include "app/app.hpp"

#include <pthread.h>
#include <signal.h>

#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

#include "app/ops.hpp"
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

void ValidatePolicy(const config::Config& c) {
  (void)db::RebuildConninfo(c.String("database.url"), {});
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
  stop_migrator = true;
  if (migrator.joinable()) migrator.join();
  host_pool.Stop();
  log::Info("stopped", {{"drained_cleanly", clean}});
  return kExitOk;
}

}  // namespace ticketd::app
