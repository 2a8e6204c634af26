#include "app/app.hpp"

#include <pthread.h>
#include <signal.h>

#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <optional>
#include <fmt/format.h>
#include <chrono>
#include <fstream>
#include <iostream>
#include <thread>

#include "app/docs.hpp"
#include "app/edge.hpp"
#include "app/ops.hpp"
#include "auth/crypto.hpp"
#include "auth/module.hpp"
#include "catalog/module.hpp"
#include "payment/module.hpp"
#include "reservation/module.hpp"
#include "queue/module.hpp"
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

// The sandbox gateway's own listener (payment.sandbox_listen = host:port,
// `[v6]:port` allowed); nullopt unless the gateway is the sandbox.
std::optional<http::ServerOptions> SandboxServerOptionsFrom(const config::Config& c) {
  if (c.String("payment.gateway") != "sandbox") return std::nullopt;
  const auto listen = c.String("payment.sandbox_listen");
  const auto colon = listen.rfind(':');
  bool ok = colon != std::string::npos && colon > 0 && colon + 1 < listen.size() && listen.size() - colon - 1 <= 5;
  for (std::size_t i = colon + 1; ok && i < listen.size(); ++i) ok = std::isdigit(static_cast<unsigned char>(listen[i])) != 0;
  if (!ok || std::stoi(listen.substr(colon + 1)) > 65535) {
    throw config::ConfigError("payment.sandbox_listen", "expected host:port, e.g. 127.0.0.1:8081 (port 0 picks one)");
  }
  http::ServerOptions o;
  o.host = listen.substr(0, colon);
  if (o.host.size() > 2 && o.host.front() == '[' && o.host.back() == ']') o.host = o.host.substr(1, o.host.size() - 2);
  o.port = static_cast<std::uint16_t>(std::stoi(listen.substr(colon + 1)));
  o.io_threads = 1;
  o.max_connections = 1000;
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
  o.compression = c.String("kafka.compression");
  for (const auto& kv : c.List("kafka.properties")) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw config::ConfigError("kafka.properties", "expected \"key=value\", got \"" + kv + "\"");
    }
    o.properties.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  // SASL credentials are secrets with a `_file` form; kafka.properties has none.
  std::string protocol = "plaintext";
  std::string mechanism = "GSSAPI";  // librdkafka's default
  for (const auto& [key, value] : o.properties) {
    if (key == "security.protocol") protocol = value;
    if (key == "sasl.mechanisms" || key == "sasl.mechanism") mechanism = value;
  }
  for (auto& ch : protocol) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  // librdkafka refuses to create a client without them, at start (exit 1
  // after check-config said OK): refuse here instead, naming the key (exit 2).
  const bool needs_credentials = o.brokers != "embedded" && protocol.starts_with("sasl_") &&
                                 (mechanism == "PLAIN" || mechanism.starts_with("SCRAM"));
  const std::pair<std::string, std::string> credentials[] = {{"kafka.sasl_username", "sasl.username"},
                                                             {"kafka.sasl_password", "sasl.password"}};
  for (const auto& [key, property] : credentials) {
    const auto& value = c.String(key);
    const bool in_properties = std::any_of(o.properties.begin(), o.properties.end(),
                                           [&](const auto& kv) { return kv.first == property; });
    if (!value.empty() && in_properties) {
      throw config::ConfigError(key, "set either " + key + " or " + property + " in kafka.properties, not both");
    }
    if (!value.empty()) {
      o.properties.emplace_back(property, value);
    } else if (needs_credentials && !in_properties) {
      throw config::ConfigError(key, "required: kafka.properties selects " + mechanism + " over " + protocol +
                                         " (set " + key + ", " + key + "_file or " +
                                         config::EnvName("kafka", key.substr(6)) + "[_FILE])");
    }
  }
  if (o.brokers == "embedded" && o.replication_factor > o.embedded_brokers) {
    throw config::ConfigError("kafka.replication_factor", "is " + std::to_string(o.replication_factor) +
                                                              ", more than kafka.embedded_brokers (" +
                                                              std::to_string(o.embedded_brokers) + ")");
  }
  return o;
}

std::map<std::string, std::string> KeyList(const std::string& key, const std::string& text, bool base64) {
  std::map<std::string, std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(start, end - start);
    start = end + 1;
    if (item.empty()) continue;
    const auto colon = item.find(':');
    if (colon == std::string::npos || colon == 0) throw config::ConfigError(key, "expected \"id:secret\" items");
    std::string secret = item.substr(colon + 1);
    if (base64) {
      auto decoded = auth::Base64Decode(secret);
      if (!decoded || decoded->size() != 32) throw config::ConfigError(key, "each key must be base64 of 32 bytes");
      secret = *decoded;
    } else if (secret.size() < 32) {
      throw config::ConfigError(key, "each key must be at least 32 bytes");
    }
    out[item.substr(0, colon)] = secret;
  }
  return out;
}

}  // namespace

auth::AuthOptions AuthOptionsFrom(const config::Config& c) {
  auth::AuthOptions o;
  o.issuer = c.String("auth.issuer");
  o.audience = c.String("auth.audience");
  o.jwt_key_id = c.String("auth.jwt_key_id");
  o.jwt_secret = c.String("auth.jwt_secret");
  if (o.jwt_secret.size() < 32) {
    throw config::ConfigError("auth.jwt_secret", "must be at least 32 bytes of random (e.g. `openssl rand -base64 48`)");
  }
  o.jwt_previous_keys = KeyList("auth.jwt_previous_keys", c.String("auth.jwt_previous_keys"), false);
  o.access_ttl = std::chrono::seconds(c.Int("auth.access_ttl_seconds"));
  o.refresh_ttl = std::chrono::seconds(c.Int("auth.refresh_ttl_seconds"));
  o.leeway_seconds = c.Int("auth.leeway_seconds");
  o.revocation_poll = std::chrono::milliseconds(c.Int("auth.revocation_poll_ms"));
  o.data_key_id = c.String("auth.data_key_id");
  const auto data_key = auth::Base64Decode(c.String("auth.data_key"));
  if (!data_key || data_key->size() != 32) throw config::ConfigError("auth.data_key", "must be base64 of exactly 32 bytes");
  o.data_key = *data_key;
  o.previous_data_keys = KeyList("auth.previous_data_keys", c.String("auth.previous_data_keys"), true);
  const auto index_key = auth::Base64Decode(c.String("auth.index_key"));
  if (!index_key || index_key->size() < 32) throw config::ConfigError("auth.index_key", "must be base64 of at least 32 bytes");
  o.index_key = *index_key;
  o.password_memlimit_bytes = static_cast<std::size_t>(c.Int("auth.password_memlimit_kib")) * 1024;
  o.password_opslimit = static_cast<unsigned long long>(c.Int("auth.password_opslimit"));
  o.max_concurrent_hashes = static_cast<int>(c.Int("auth.max_concurrent_hashes"));
  o.max_hash_queue = static_cast<std::size_t>(c.Int("auth.max_hash_queue"));
  o.lockout_threshold = static_cast<int>(c.Int("auth.lockout_threshold"));
  o.lockout_window = std::chrono::seconds(c.Int("auth.lockout_window_seconds"));
  o.lockout_duration = std::chrono::seconds(c.Int("auth.lockout_duration_seconds"));
  o.withdrawn_identity_block = std::chrono::hours(24 * c.Int("auth.withdrawn_identity_block_days"));
  o.captcha = c.String("auth.captcha");
  o.recaptcha_secret = c.String("auth.recaptcha_secret");
  o.recaptcha_url = c.String("auth.recaptcha_url");
  o.identity = c.String("auth.identity");
  o.portone_api_secret = c.String("auth.portone_api_secret");
  o.portone_api_url = c.String("auth.portone_api_url");
  if (o.captcha == "recaptcha" && o.recaptcha_secret.empty()) {
    throw config::ConfigError("auth.recaptcha_secret", "required when auth.captcha = \"recaptcha\"");
  }
  if (o.identity == "portone" && o.portone_api_secret.empty()) {
    throw config::ConfigError("auth.portone_api_secret", "required when auth.identity = \"portone\"");
  }
  return o;
}

namespace {

events::RelayOptions RelayOptionsFrom(const config::Config& c, const std::string& schema) {
  events::RelayOptions o;
  o.schema = schema;
  o.conninfo = db::WithCredentials(c.String("database.url"), db::ModuleRole(schema), c.String("database.module_password"));
  o.batch_size = static_cast<int>(c.Int("kafka.relay_batch_size"));
  o.poll_interval = std::chrono::milliseconds(c.Int("kafka.relay_poll_interval_ms"));
  o.max_attempts = static_cast<int>(c.Int("kafka.relay_max_attempts"));
  o.backoff_max = std::chrono::milliseconds(c.Int("kafka.relay_backoff_max_ms"));
  o.retention = std::chrono::hours(c.Int("kafka.outbox_retention_hours"));
  o.republish_on_start = c.String("kafka.brokers") == "embedded";
  return o;
}

events::ConsumerOptions ConsumerOptionsFrom(const config::Config& c, const std::string& module,
                                            std::vector<std::string> topics) {
  events::ConsumerOptions o;
  o.group_id = "ticketd." + module;
  o.schema = module;
  o.topics = std::move(topics);
  o.max_attempts = static_cast<int>(c.Int("kafka.consumer_max_attempts"));
  o.backoff_max = std::chrono::milliseconds(c.Int("kafka.consumer_backoff_max_ms"));
  return o;
}

catalog::CatalogOptions CatalogOptionsFrom(const config::Config& c) {
  catalog::CatalogOptions o;
  o.cache_ttl = std::chrono::milliseconds(c.Int("catalog.cache_ttl_ms"));
  o.preload_horizon = std::chrono::hours(c.Int("catalog.seat_map_preload_hours"));
  return o;
}

queue::QueueOptions QueueOptionsFrom(const config::Config& c) {
  queue::QueueOptions o;
  o.defaults.admission_rate_per_second = static_cast<int>(c.Int("queue.admission_rate_per_second"));
  o.defaults.max_active = static_cast<int>(c.Int("queue.max_active"));
  o.defaults.capacity = static_cast<int>(c.Int("queue.capacity"));
  o.defaults.token_ttl_seconds = static_cast<int>(c.Int("queue.token_ttl_seconds"));
  o.defaults.pre_queue_minutes = static_cast<int>(c.Int("queue.pre_queue_minutes"));
  o.defaults.method = c.String("queue.method");
  o.drop_after = std::chrono::seconds(c.Int("queue.drop_after_seconds"));
  o.admission_interval = std::chrono::milliseconds(c.Int("queue.admission_interval_ms"));
  o.sync_interval = std::chrono::milliseconds(c.Int("queue.sync_interval_ms"));
  o.touch_flush_interval = std::chrono::milliseconds(c.Int("queue.touch_flush_ms"));
  o.estimate_window = std::chrono::seconds(c.Int("queue.estimate_window_seconds"));
  o.max_streams_per_user = static_cast<int>(c.Int("queue.max_streams_per_user"));
  o.stream_heartbeat = std::chrono::seconds(c.Int("queue.stream_heartbeat_seconds"));
  return o;
}

reservation::ReservationOptions ReservationOptionsFrom(const config::Config& c) {
  reservation::ReservationOptions o;
  o.hold_ttl = std::chrono::seconds(c.Int("reservation.hold_seconds"));
  o.max_seats_per_user = static_cast<int>(c.Int("reservation.max_seats_per_user"));
  o.sweep_interval = std::chrono::milliseconds(c.Int("reservation.sweep_interval_ms"));
  o.venue_utc_offset_minutes = static_cast<int>(c.Int("reservation.venue_utc_offset_minutes"));
  o.idempotency_retention = std::chrono::hours(c.Int("reservation.idempotency_retention_hours"));
  return o;
}

payment::PaymentModuleOptions PaymentOptionsFrom(const config::Config& c) {
  payment::PaymentModuleOptions o;
  o.gateway = c.String("payment.gateway");
  o.portone.base_url = c.String("payment.portone_api_url");
  o.portone.api_secret = c.String("payment.portone_api_secret");
  o.portone.store_id = c.String("payment.store_id");
  o.portone.timeout = std::chrono::milliseconds(c.Int("payment.gateway_timeout_ms"));
  o.portone.breaker.window = static_cast<int>(c.Int("payment.breaker_window"));
  o.portone.breaker.min_calls = static_cast<int>(c.Int("payment.breaker_min_calls"));
  o.portone.breaker.open_for = std::chrono::seconds(c.Int("payment.breaker_open_seconds"));
  o.sandbox.api_secret = c.String("payment.sandbox_api_secret");
  o.sandbox.store_id = c.String("payment.store_id");
  o.sandbox.webhook_secret = c.String("payment.webhook_secret");
  o.sandbox.channel_key = c.String("payment.channel_key");
  o.sandbox.stall = std::chrono::milliseconds(c.Int("payment.sandbox_stall_ms"));
  o.service.channel_key = c.String("payment.channel_key");
  o.service.webhook_secret = c.String("payment.webhook_secret");
  o.service.reconcile_after = std::chrono::seconds(c.Int("payment.reconcile_after_seconds"));
  o.service.abandon_after = std::chrono::seconds(c.Int("payment.abandon_after_seconds"));
  o.service.worker_interval = std::chrono::milliseconds(c.Int("payment.worker_interval_ms"));
  o.service.refund_backoff_max = std::chrono::milliseconds(c.Int("payment.refund_backoff_max_ms"));
  o.service.refund_concurrency = static_cast<int>(c.Int("payment.refund_concurrency"));
  if (o.gateway == "portone" && o.portone.api_secret.empty()) {
    throw config::ConfigError("payment.portone_api_secret", "required when payment.gateway = \"portone\"");
  }
  return o;
}

db::PoolOptions ModulePool(const config::Config& c, const std::string& module) {
  return PoolOptionsFrom(c, module,
                         db::WithCredentials(c.String("database.url"), db::ModuleRole(module), c.String("database.module_password")),
                         static_cast<int>(c.Int("database.pool_size")));
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

int CreateUser(const config::Config& c, const UserSpec& user) {
  auth::AuthModule module(AuthOptionsFrom(c), ModulePool(c, "auth"), nullptr);
  const auto id = module.service().CreateUserSync(user.email, user.password, user.name, user.phone, user.role, false);
  std::cout << "created " << user.role << " " << user.email << " (" << id << ")\n";
  return kExitOk;
}

int Seed(const config::Config& c) {
  if (c.String("server.environment") == "production") {
    std::cerr << "ticketd: seed is for development only\n";
    return kExitConfig;
  }
  auth::AuthModule module(AuthOptionsFrom(c), ModulePool(c, "auth"), nullptr);
  auto& auth = module.service();
  const auto admin = auth.CreateUserSync("admin@ticketd.local", "ticketd-admin-dev", "Demo Admin", "010-0000-0001", "ADMIN", true);
  const auto user = auth.CreateUserSync("user@ticketd.local", "ticketd-user-dev", "Demo User", "010-0000-0002", "USER", true);
  std::cout << "seeded admin@ticketd.local (" << admin << ") and user@ticketd.local (" << user << ")\n";
  // The io_context outlives the module (and its pool threads that resume on it).
  asio::io_context io;
  catalog::CatalogModule catalog_module(CatalogOptionsFrom(c), ModulePool(c, "catalog"), nullptr);
  auto summary = asio::co_spawn(io, catalog::SeedDemo(catalog_module.service(), catalog_module.pool()), asio::use_future);
  io.run();
  std::cout << "seeded catalog: " << summary.get() << "\n";
  return kExitOk;
}

int SeedUsers(const config::Config& c, const SeedUsersSpec& spec) {
  if (c.String("server.environment") == "production") {
    std::cerr << "ticketd: seed-users is for development and benchmarks only\n";
    return kExitConfig;
  }
  auth::AuthModule module(AuthOptionsFrom(c), ModulePool(c, "auth"), nullptr);
  const auto users = module.service().SeedUsersSync(spec.prefix, spec.first, spec.count, spec.password, !spec.tokens_out.empty());
  if (!spec.tokens_out.empty()) {
    std::ofstream out(spec.tokens_out, std::ios::trunc);
    for (const auto& u : users) out << u.email << ' ' << u.access_token << '\n';
    if (!out) throw std::runtime_error("cannot write " + spec.tokens_out);
  }
  std::cout << "seeded " << users.size() << " users " << spec.prefix << "-" << spec.first << ".."
            << spec.first + spec.count - 1 << "@bench.test\n";
  return kExitOk;
}

void ValidatePolicy(const config::Config& c) {
  (void)db::RebuildConninfo(c.String("database.url"), {});
  (void)KafkaOptionsFrom(c);
  (void)AuthOptionsFrom(c);
  (void)EdgeOptionsFrom(c);
  if (c.String("server.environment") == "production") {
    if (c.String("kafka.brokers") == "embedded") {
      throw config::ConfigError("kafka.brokers", "\"embedded\" is for development and tests; production needs brokers");
    }
    if (c.String("auth.captcha") == "sandbox") {
      throw config::ConfigError("auth.captcha", "the sandbox captcha is refused in production");
    }
    if (c.String("auth.identity") == "sandbox") {
      throw config::ConfigError("auth.identity", "the sandbox identity verification is refused in production");
    }
    if (c.String("payment.gateway") == "sandbox") {
      throw config::ConfigError("payment.gateway", "the sandbox payment gateway is refused in production");
    }
    if (c.String("payment.webhook_secret") == "whsec_dGlja2V0ZC1zYW5kYm94LXdlYmhvb2stc2VjcmV0" ||
        !c.String("payment.webhook_secret").starts_with("whsec_")) {
      throw config::ConfigError("payment.webhook_secret", "set the endpoint's own whsec_… secret (the default is the sandbox's)");
    }
  }
  (void)PaymentOptionsFrom(c);
  (void)SandboxServerOptionsFrom(c);
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
  // Development only: with the embedded Kafka, SIGUSR1 takes its brokers down
  // and SIGUSR2 brings them back (tools/bench/flash-sale --scenario chaos).
  const bool kafka_chaos = c.String("kafka.brokers") == "embedded" && c.String("server.environment") != "production";
  if (kafka_chaos) {
    sigaddset(&signals, SIGUSR1);
    sigaddset(&signals, SIGUSR2);
  }
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // From here on no I/O thread waits for stdout: a background thread writes
  // the log (it inherits the signal mask), shedding access lines, never
  // others, when it falls behind.
  log::StartAsync();
  struct StopLog {
    ~StopLog() { log::StopAsync(); }
  } stop_log;

  metrics::Registry registry;
  metrics::RegisterProcessMetrics(registry);
  registry.GetGauge("ticketd_build_info", "Build information", {{"version", TICKETD_VERSION_STRING}}).Set(1);
  auto& log_dropped = registry.GetCounter("ticketd_log_dropped_total",
                                          "Access log lines shed because the background log writer fell behind");
  auto& log_queued = registry.GetGauge("ticketd_log_queued_lines", "Log lines waiting for the background log writer");
  registry.OnCollect([&log_dropped, &log_queued, seen = std::make_shared<std::atomic<std::uint64_t>>(0)] {
    const auto stats = log::GetStats();
    log_queued.Set(static_cast<double>(stats.queued));
    auto prev = seen->load();
    while (stats.dropped > prev && !seen->compare_exchange_weak(prev, stats.dropped)) {
    }
    if (stats.dropped > prev) log_dropped.Inc(static_cast<double>(stats.dropped - prev));
  });

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

  // Modules.
  auth::AuthModule auth_module(AuthOptionsFrom(c), ModulePool(c, "auth"), &registry);
  catalog::CatalogModule catalog_module(CatalogOptionsFrom(c), ModulePool(c, "catalog"), &registry);
  relays.push_back(std::make_unique<events::OutboxRelay>(RelayOptionsFrom(c, "catalog"), *producer, &registry));
  // Seats become SOLD (and AVAILABLE again after a refund) from reservation's events.
  std::vector<std::unique_ptr<events::EventConsumer>> consumers;
  consumers.push_back(std::make_unique<events::EventConsumer>(
      ConsumerOptionsFrom(c, "catalog", {"reservation.events"}), *kafka_cluster, catalog_module.pool(), *producer, &registry));
  consumers.back()->On("ReservationConfirmed", 1, [&catalog_module](pqxx::work& tx, const events::Envelope& e) {
    catalog_module.service().OnReservationConfirmed(tx, e);
  });
  consumers.back()->On("ReservationCancelled", 1, [&catalog_module](pqxx::work& tx, const events::Envelope& e) {
    catalog_module.service().OnReservationCancelled(tx, e);
  });
  // Every instance's live seat map follows the holds and bookings made on any
  // instance (memory only; the consumer group above persists SOLD once).
  events::BroadcastConsumer seat_map_events(events::BroadcastOptions{"catalog.seat-map", {"reservation.events"}},
                                            *kafka_cluster, &registry);
  for (const char* type : {"ReservationHeld", "ReservationExpired", "ReservationCancelled", "ReservationConfirmed"}) {
    seat_map_events.On(type, 1, [&catalog_module](const events::Envelope& e) {
      catalog_module.service().ApplyReservationEvent(e);
    });
  }

  // The waiting room reads events (sale window, queue settings) through the catalog's interface.
  queue::QueueModule queue_module(QueueOptionsFrom(c), ModulePool(c, "queue"), catalog_module.reader(), &registry);
  // A confirmed booking uses up its payment (qp_) tokens.
  consumers.push_back(std::make_unique<events::EventConsumer>(
      ConsumerOptionsFrom(c, "queue", {"reservation.events"}), *kafka_cluster, queue_module.pool(), *producer, &registry));
  consumers.back()->On("ReservationConfirmed", 1, [&queue_module](pqxx::work& tx, const events::Envelope& e) {
    queue_module.service().OnReservationConfirmed(tx, e);
  });

  // Holds and bookings: seats from catalog, tokens from the waiting room; the
  // saga steps arrive from payment.events and catalog.events.
  reservation::ReservationModule reservation_module(ReservationOptionsFrom(c), ModulePool(c, "reservation"),
                                                    catalog_module.reader(), catalog_module.feed(),
                                                    queue_module.tokens(), &registry);
  catalog_module.service().SetHeldSeatsSource(&reservation_module.service());
  relays.push_back(std::make_unique<events::OutboxRelay>(RelayOptionsFrom(c, "reservation"), *producer, &registry));
  consumers.push_back(std::make_unique<events::EventConsumer>(
      ConsumerOptionsFrom(c, "reservation", {"payment.events", "catalog.events"}), *kafka_cluster,
      reservation_module.pool(), *producer, &registry));
  {
    auto& svc = reservation_module.service();
    auto& consumer = *consumers.back();
    consumer.On("PaymentSucceeded", 1, [&svc](pqxx::work& tx, const events::Envelope& e) { svc.OnPaymentSucceeded(tx, e); });
    consumer.On("PaymentFailed", 1, [&svc](pqxx::work& tx, const events::Envelope& e) { svc.OnPaymentFailed(tx, e); });
    consumer.On("PaymentRefunded", 1, [&svc](pqxx::work& tx, const events::Envelope& e) { svc.OnPaymentRefunded(tx, e); });
    consumer.On("EventCancelled", 1, [&svc](pqxx::work& tx, const events::Envelope& e) { svc.OnEventCancelled(tx, e); });
  }

  // Payments: the gateway (sandbox or PortOne), webhooks, refunds; refunds are
  // asked for by reservation's events.
  payment::PaymentModule payment_module(PaymentOptionsFrom(c), ModulePool(c, "payment"), reservation_module.reader(),
                                        queue_module.tokens(), catalog_module.reader(), &registry);
  relays.push_back(std::make_unique<events::OutboxRelay>(RelayOptionsFrom(c, "payment"), *producer, &registry));
  consumers.push_back(std::make_unique<events::EventConsumer>(ConsumerOptionsFrom(c, "payment", {"reservation.events"}),
                                                              *kafka_cluster, payment_module.pool(), *producer, &registry));
  {
    auto& svc = payment_module.service();
    auto& consumer = *consumers.back();
    consumer.On("ReservationConfirmationRejected", 1,
                [&svc](pqxx::work& tx, const events::Envelope& e) { svc.OnConfirmationRejected(tx, e); });
    consumer.On("ReservationCancelled", 1, [&svc](pqxx::work& tx, const events::Envelope& e) { svc.OnReservationCancelled(tx, e); });
  }

  http::Router router;
  auth_module.AddRoutes(router);
  catalog_module.AddRoutes(router);
  queue_module.AddRoutes(router);
  reservation_module.AddRoutes(router);
  payment_module.AddRoutes(router);
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
  checks.push_back({"auth", [&auth_module]() -> asio::awaitable<std::optional<std::string>> {
                      if (!auth_module.service().ready()) co_return "token denylist not loaded yet";
                      co_return std::nullopt;
                    }});
  checks.push_back({"catalog", [&catalog_module]() -> asio::awaitable<std::optional<std::string>> {
                      if (!catalog_module.ready()) co_return "seat maps not loaded yet";
                      co_return std::nullopt;
                    }});
  checks.push_back({"queue", [&queue_module]() -> asio::awaitable<std::optional<std::string>> {
                      if (!queue_module.ready()) co_return "waiting-room index not rebuilt yet";
                      co_return std::nullopt;
                    }});
  AddOpsRoutes(router, std::move(checks), registry);
  AddDocsRoutes(router);

  http::Server server(ServerOptionsFrom(c), router, registry);
  // The edge (outermost first): client address, security headers, CORS, gzip;
  // then authentication; then rate limits (per user needs the principal).
  const auto edge_options = EdgeOptionsFrom(c);
  server.Use(EdgeMiddleware(edge_options, router));
  server.Use(AuthMiddleware(auth_module.verifier()));
  server.Use(RateLimitMiddleware(edge_options));
  server_ptr = &server;
  // The sandbox gateway's own listener: PortOne's routes at the root, so
  // PortOne's server SDK (and our adapter) take its URL as the base URL.
  http::Router sandbox_router;
  metrics::Registry sandbox_registry;  // the stand-in's traffic is not ticketd's
  const auto sandbox_options = SandboxServerOptionsFrom(c);
  std::unique_ptr<http::Server> sandbox_server;
  if (sandbox_options && payment_module.AddSandboxRoutes(sandbox_router)) {
    sandbox_server = std::make_unique<http::Server>(*sandbox_options, sandbox_router, sandbox_registry);
  }
  auth_module.Start();
  seat_map_events.Start();  // before the maps load: what happens meanwhile reaches them
  catalog_module.Start();
  queue_module.Start();
  reservation_module.Start();
  payment_module.Start();
  for (auto& relay : relays) relay->Start();
  for (auto& consumer : consumers) consumer->Start();
  try {
    server.Start();
    if (sandbox_server) {
      sandbox_server->Start();
      std::string host = sandbox_options->host == "0.0.0.0" ? "127.0.0.1" : sandbox_options->host == "::" ? "::1" : sandbox_options->host;
      if (host.find(':') != std::string::npos) host = "[" + host + "]";
      const std::string url = "http://" + host + ":" + std::to_string(sandbox_server->port());
      payment_module.SetSandboxUrl(url);
      log::Info("sandbox gateway listening", {{"url", url}, {"port", sandbox_server->port()}});
    }
  } catch (const std::exception& e) {
    log::Error("cannot start", {{"error", e.what()}});
    stop_migrator = true;
    if (migrator.joinable()) migrator.join();
    return kExitFailure;
  }
  payment_module.SetListeningPort(server.port());
  log::Info("listening", {{"host", c.String("server.host")},
                          {"port", server.port()},
                          {"io_threads", ServerOptionsFrom(c).io_threads},
                          {"environment", c.String("server.environment")},
                          {"version", TICKETD_VERSION_STRING}});

  int sig = 0;
  for (;;) {
    sigwait(&signals, &sig);
    if (sig != SIGUSR1 && sig != SIGUSR2) break;
    if (kafka_cluster && kafka_cluster->embedded()) {
      for (int b = 1; b <= kafka_cluster->options().embedded_brokers; ++b) {
        if (sig == SIGUSR1) {
          rd_kafka_mock_broker_set_down(kafka_cluster->mock(), b);
        } else {
          rd_kafka_mock_broker_set_up(kafka_cluster->mock(), b);
        }
      }
      log::Warn(sig == SIGUSR1 ? "embedded kafka brokers set down (SIGUSR1)" : "embedded kafka brokers set up (SIGUSR2)", {});
    }
  }
  log::Info("shutdown requested; draining", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"},
                                             {"in_flight", server.InFlight()}});
  server.BeginDrain();
  const bool clean = server.Stop(std::chrono::milliseconds(c.Int("server.drain_timeout_ms")));
  if (sandbox_server) {
    sandbox_server->BeginDrain();
    sandbox_server->Stop(std::chrono::milliseconds(2000));
  }
  for (auto& consumer : consumers) consumer->Stop();
  seat_map_events.Stop();
  for (auto& relay : relays) relay->Stop();
  payment_module.Stop();
  reservation_module.Stop();
  queue_module.Stop();
  auth_module.Stop();
  catalog_module.Stop();
  producer.reset();
  kafka_cluster.reset();
  stop_migrator = true;
  if (migrator.joinable()) migrator.join();
  host_pool.Stop();
  log::Info("stopped", {{"drained_cleanly", clean}});
  return kExitOk;
}

}  // namespace ticketd::app
