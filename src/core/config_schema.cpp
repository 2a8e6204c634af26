#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ticketd/core/config.hpp"

namespace ticketd::config {

namespace {

KeySpec Key(std::string section, std::string key, Type type, Value default_value, std::string doc) {
  KeySpec spec;
  spec.section = std::move(section);
  spec.key = std::move(key);
  spec.type = type;
  spec.default_value = std::move(default_value);
  spec.doc = std::move(doc);
  return spec;
}

KeySpec StringKey(std::string section, std::string key, std::string default_value, std::string doc,
                  std::vector<std::string> choices = {}) {
  KeySpec spec = Key(std::move(section), std::move(key), Type::kString, std::move(default_value), std::move(doc));
  spec.choices = std::move(choices);
  return spec;
}

KeySpec SecretKey(std::string section, std::string key, std::string default_value, std::string doc) {
  KeySpec spec = StringKey(std::move(section), std::move(key), std::move(default_value), std::move(doc));
  spec.secret = true;
  return spec;
}

KeySpec IntKey(std::string section, std::string key, std::int64_t default_value, std::int64_t min,
               std::int64_t max, std::string doc) {
  KeySpec spec = Key(std::move(section), std::move(key), Type::kInt, default_value, std::move(doc));
  spec.min = static_cast<double>(min);
  spec.max = static_cast<double>(max);
  return spec;
}

KeySpec BoolKey(std::string section, std::string key, bool default_value, std::string doc) {
  return Key(std::move(section), std::move(key), Type::kBool, default_value, std::move(doc));
}

KeySpec ListKey(std::string section, std::string key, std::vector<std::string> default_value,
                std::string doc) {
  return Key(std::move(section), std::move(key), Type::kStringList, std::move(default_value), std::move(doc));
}

std::vector<KeySpec> BuildSchema() {
  std::vector<KeySpec> keys;

  // server
  keys.push_back(StringKey("server", "environment", "development",
                           "Deployment kind; production refuses sandbox adapters and dev-only features.",
                           {"development", "production"}));
  keys.push_back(StringKey("server", "host", "127.0.0.1", "Address the HTTP listener binds to."));
  keys.push_back(IntKey("server", "port", 8080, 0, 65535, "TCP port of the HTTP listener; 0 = any free port."));
  keys.push_back(IntKey("server", "io_threads", 0, 0, 256,
                        "Threads running the I/O event loop; 0 = number of CPU cores."));
  keys.push_back(IntKey("server", "max_connections", 10000, 1, 1000000,
                        "Most client connections open at once."));
  keys.push_back(IntKey("server", "header_limit_bytes", 8192, 1024, 65536,
                        "Largest request line plus headers accepted."));
  keys.push_back(IntKey("server", "body_limit_bytes", 65536, 1024, 16777216,
                        "Default per-route request body limit; a route may set its own."));
  keys.push_back(IntKey("server", "header_timeout_ms", 10000, 100, 600000,
                        "Time allowed to receive a request's headers."));
  keys.push_back(IntKey("server", "body_timeout_ms", 30000, 100, 600000,
                        "Time allowed to receive a request's body after its headers."));
  keys.push_back(IntKey("server", "idle_timeout_ms", 60000, 100, 3600000,
                        "Time a keep-alive connection may sit idle between requests."));
  keys.push_back(IntKey("server", "write_timeout_ms", 30000, 100, 600000,
                        "Time allowed to write a response to the client."));
  keys.push_back(IntKey("server", "drain_timeout_ms", 30000, 0, 600000,
                        "On shutdown, time in-flight requests get to finish before connections are closed."));

  // database
  keys.push_back(SecretKey("database", "url", "postgresql://postgres@127.0.0.1:5432/ticketd",
                           "Owner connection used by migrations; module pools log in as ticketd_<module> "
                           "on the same host and database."));
  keys.push_back(SecretKey("database", "module_password", "",
                           "Password of the per-module login roles ticketd_<module>."));
  keys.push_back(IntKey("database", "pool_size", 8, 1, 256, "Connections per module pool."));
  keys.push_back(IntKey("database", "host_pool_size", 2, 1, 16,
                        "Connections of the host's own pool (work not owned by a module)."));
  keys.push_back(IntKey("database", "statement_timeout_ms", 5000, 100, 600000,
                        "Postgres statement_timeout set on every connection."));
  keys.push_back(IntKey("database", "connect_timeout_ms", 3000, 100, 60000,
                        "Time allowed to open one connection to Postgres."));
  keys.push_back(IntKey("database", "max_queue", 1000, 1, 1000000,
                        "DB jobs queued per pool before requests get 503 with Retry-After."));
  keys.push_back(IntKey("database", "retry_attempts", 3, 1, 10,
                        "Attempts for a DB job that fails with a retryable error."));
  keys.push_back(BoolKey("database", "migrate_on_start", true,
                         "Apply pending migrations at start-up (else run `ticketd migrate` as a release step)."));

  // kafka
  keys.push_back(StringKey("kafka", "brokers", "embedded",
                           "\"embedded\" = librdkafka mock cluster in-process, else a comma-separated "
                           "host:port broker list."));
  keys.push_back(IntKey("kafka", "embedded_brokers", 3, 1, 9, "Brokers in the embedded mock cluster."));
  keys.push_back(IntKey("kafka", "partitions", 3, 1, 1000, "Partitions of each topic ticketd creates."));
  keys.push_back(IntKey("kafka", "replication_factor", 1, 1, 7,
                        "Replication factor of each topic ticketd creates (3 on a production cluster)."));
  keys.push_back(StringKey("kafka", "client_id", "ticketd", "client.id prefix of every Kafka client."));
  keys.push_back(ListKey("kafka", "properties", {},
                         "Extra librdkafka properties as \"key=value\" (e.g. security.protocol=SASL_SSL for MSK)."));
  keys.push_back(StringKey("kafka", "compression", "gzip",
                           "Compression of the events ticketd publishes: gzip (read by every mainstream client "
                           "without plugins, e.g. kafkajs), none, snappy, lz4 or zstd (some clients need codec plugins).",
                           {"none", "gzip", "snappy", "lz4", "zstd"}));
  keys.push_back(SecretKey("kafka", "sasl_username", "",
                           "SASL user name (sasl.username) of every Kafka client; may come from a file."));
  keys.push_back(SecretKey("kafka", "sasl_password", "",
                           "SASL password (sasl.password) of every Kafka client; may come from a file."));
  keys.push_back(IntKey("kafka", "message_timeout_ms", 30000, 1000, 900000,
                        "How long the producer keeps retrying one message before reporting it failed."));
  keys.push_back(IntKey("kafka", "relay_batch_size", 500, 1, 10000, "Outbox rows published per relay batch."));
  keys.push_back(IntKey("kafka", "relay_poll_interval_ms", 1000, 10, 60000,
                        "Outbox polling fallback when no NOTIFY arrives."));
  keys.push_back(IntKey("kafka", "relay_max_attempts", 5, 1, 100,
                        "Non-retryable publish failures before an event goes to the DLQ."));
  keys.push_back(IntKey("kafka", "relay_backoff_max_ms", 30000, 100, 600000,
                        "Longest pause between relay retries (exponential from 100 ms)."));
  keys.push_back(IntKey("kafka", "outbox_retention_hours", 72, 1, 8760,
                        "Published outbox rows are deleted after this long."));
  keys.push_back(IntKey("kafka", "consumer_max_attempts", 5, 1, 100,
                        "Handler failures (not outages) before an event goes to the DLQ."));
  keys.push_back(IntKey("kafka", "consumer_backoff_max_ms", 10000, 100, 600000,
                        "Longest pause between consumer retries of one event."));

  // auth
  keys.push_back(StringKey("auth", "issuer", "ticketd", "JWT iss of access tokens (checked on verification)."));
  keys.push_back(StringKey("auth", "audience", "ticketd-api", "JWT aud of access tokens (checked on verification)."));
  keys.push_back(StringKey("auth", "jwt_key_id", "k1", "Key id (JWT kid) of the signing key."));
  keys.push_back(SecretKey("auth", "jwt_secret", "",
                           "HS256 signing key, at least 32 bytes (e.g. `openssl rand -base64 48`); required."));
  keys.push_back(SecretKey("auth", "jwt_previous_keys", "",
                           "Older keys still accepted for verification during rotation: \"kid:secret,kid:secret\"."));
  keys.push_back(IntKey("auth", "access_ttl_seconds", 3600, 60, 86400, "Access token lifetime."));
  keys.push_back(IntKey("auth", "refresh_ttl_seconds", 604800, 3600, 7776000, "Refresh token lifetime."));
  keys.push_back(IntKey("auth", "leeway_seconds", 30, 0, 300, "Clock skew tolerated when checking exp/iat."));
  keys.push_back(IntKey("auth", "revocation_poll_ms", 1000, 100, 60000,
                        "How often each instance reads new logouts/revocations into memory."));
  keys.push_back(StringKey("auth", "data_key_id", "d1", "Key id stored with personal data encrypted by data_key."));
  keys.push_back(SecretKey("auth", "data_key", "",
                           "AES-256-GCM key for personal data at rest: base64 of exactly 32 bytes; required."));
  keys.push_back(SecretKey("auth", "previous_data_keys", "",
                           "Older data keys still readable during rotation: \"id:base64,id:base64\"."));
  keys.push_back(SecretKey("auth", "index_key", "",
                           "HMAC key for blind indexes (email lookup, identity CI): base64 of >= 32 bytes; required."));
  keys.push_back(IntKey("auth", "password_memlimit_kib", 19456, 19456, 1048576,
                        "argon2id memory per hash in KiB (OWASP minimum 19456 = 19 MiB)."));
  keys.push_back(IntKey("auth", "password_opslimit", 2, 2, 10, "argon2id iterations (OWASP minimum 2)."));
  keys.push_back(IntKey("auth", "max_concurrent_hashes", 2, 1, 64,
                        "Password hashes computed at once; bounds memory (x memlimit) under a login storm."));
  keys.push_back(IntKey("auth", "max_hash_queue", 256, 1, 100000,
                        "Logins waiting for a hashing slot before the rest get 503."));
  keys.push_back(IntKey("auth", "lockout_threshold", 5, 1, 100, "Failed logins within the window that lock the account."));
  keys.push_back(IntKey("auth", "lockout_window_seconds", 900, 10, 86400, "Window counting failed logins."));
  keys.push_back(IntKey("auth", "lockout_duration_seconds", 900, 10, 86400, "How long a locked account stays locked."));
  keys.push_back(IntKey("auth", "withdrawn_identity_block_days", 30, 0, 3650,
                        "After withdrawal, the same person cannot register again for this many days."));
  keys.push_back(StringKey("auth", "captcha", "sandbox",
                           "Captcha adapter: sandbox (token test-pass passes) or recaptcha.", {"sandbox", "recaptcha"}));
  keys.push_back(SecretKey("auth", "recaptcha_secret", "", "reCAPTCHA secret key (captcha = recaptcha)."));
  keys.push_back(StringKey("auth", "recaptcha_url", "https://www.google.com/recaptcha/api/siteverify",
                           "reCAPTCHA siteverify endpoint."));
  keys.push_back(StringKey("auth", "identity", "sandbox",
                           "Identity verification adapter: sandbox (deterministic CI) or portone.", {"sandbox", "portone"}));
  keys.push_back(SecretKey("auth", "portone_api_secret", "", "PortOne V2 API secret (identity = portone)."));
  keys.push_back(StringKey("auth", "portone_api_url", "https://api.portone.io", "PortOne V2 API base URL."));

  // catalog
  keys.push_back(IntKey("catalog", "cache_ttl_ms", 2000, 0, 600000,
                        "How long event lists and details are served from memory (0 disables; invalidated on change)."));
  keys.push_back(IntKey("catalog", "seat_map_preload_hours", 48, 0, 8760,
                        "At start, load the live seat maps of events on sale or opening within this many hours."));

  // queue
  keys.push_back(IntKey("queue", "admission_rate_per_second", 10, 1, 100000,
                        "Default users admitted per second per event (an event's own setting or the admin's wins)."));
  keys.push_back(IntKey("queue", "max_active", 500, 1, 10000000,
                        "Default maximum of admitted users holding an unused reservation token per event."));
  keys.push_back(IntKey("queue", "capacity", 50000, 1, 10000000, "Default maximum of waiting users per event (QUEUE_FULL)."));
  keys.push_back(IntKey("queue", "token_ttl_seconds", 600, 10, 86400, "Lifetime of a reservation token (qr_)."));
  keys.push_back(IntKey("queue", "pre_queue_minutes", 30, 0, 1440, "Default: the waiting room opens this long before the sale."));
  keys.push_back(StringKey("queue", "method", "fifo", "Default queueing method: fifo, or random (shuffle of the pre-queue).",
                           {"fifo", "random"}));
  keys.push_back(IntKey("queue", "drop_after_seconds", 300, 1, 86400,
                        "Waiting users who stop polling (status/stream) for this long lose their place."));
  keys.push_back(IntKey("queue", "admission_interval_ms", 1000, 50, 60000, "Admission scheduler tick."));
  keys.push_back(IntKey("queue", "sync_interval_ms", 250, 20, 60000,
                        "How often each instance reads other instances' changes into its in-memory index in the background (enter and status wait for a fresh read of their own)."));
  keys.push_back(IntKey("queue", "touch_flush_ms", 2000, 100, 60000, "How often coalesced last-seen refreshes are written."));
  keys.push_back(IntKey("queue", "estimate_window_seconds", 60, 5, 3600,
                        "Window of actual admissions behind the estimated wait."));
  keys.push_back(IntKey("queue", "max_streams_per_user", 2, 1, 100, "Concurrent SSE streams per user, on all instances together."));
  keys.push_back(IntKey("queue", "stream_heartbeat_seconds", 15, 1, 300, "SSE heartbeat (comment line) interval."));

  // reservation
  keys.push_back(IntKey("reservation", "hold_seconds", 300, 1, 3600, "How long a hold (PENDING reservation) lasts before it expires."));
  keys.push_back(IntKey("reservation", "max_seats_per_user", 4, 1, 20,
                        "Seats one person may hold or have booked per event (and per request)."));
  keys.push_back(IntKey("reservation", "sweep_interval_ms", 1000, 50, 60000, "How often expired holds are swept."));
  keys.push_back(IntKey("reservation", "venue_utc_offset_minutes", 540, -720, 840,
                        "UTC offset of the venues' time zone (Asia/Seoul: 540); cancellation closes on the show's day there."));
  keys.push_back(IntKey("reservation", "idempotency_retention_hours", 24, 1, 720, "How long Idempotency-Key answers are kept."));

  // payment
  keys.push_back(StringKey("payment", "gateway", "sandbox",
                           "Payment gateway adapter: sandbox (served by ticketd: payment.sandbox_listen, and /sandbox/pg) or portone.",
                           {"sandbox", "portone"}));
  keys.push_back(StringKey("payment", "portone_api_url", "https://api.portone.io", "PortOne V2 API base URL (gateway = portone)."));
  keys.push_back(SecretKey("payment", "portone_api_secret", "", "PortOne V2 API secret (gateway = portone)."));
  keys.push_back(StringKey("payment", "store_id", "store-ticketd-sandbox", "PortOne store id, shown to the payment widget."));
  keys.push_back(StringKey("payment", "channel_key", "channel-key-ticketd-sandbox", "PortOne channel key, shown to the payment widget."));
  keys.push_back(SecretKey("payment", "webhook_secret", "whsec_dGlja2V0ZC1zYW5kYm94LXdlYmhvb2stc2VjcmV0",
                           "Standard Webhooks secret (whsec_…) of the webhook endpoint; the default is for the sandbox only."));
  keys.push_back(SecretKey("payment", "sandbox_api_secret", "sandbox-api-secret",
                           "The API secret the sandbox gateway expects (gateway = sandbox)."));
  keys.push_back(StringKey("payment", "sandbox_listen", "127.0.0.1:0",
                           "Sandbox: host:port of its own listener, PortOne's routes at the root (the base URL for "
                           "PortOne's server SDK and for ticketd's adapter); port 0 picks one, logged at start."));
  keys.push_back(IntKey("payment", "gateway_timeout_ms", 10000, 100, 120000, "Budget of one gateway request."));
  keys.push_back(IntKey("payment", "breaker_window", 20, 2, 1000, "Gateway calls the circuit breaker looks at."));
  keys.push_back(IntKey("payment", "breaker_min_calls", 10, 1, 1000, "Calls in the window before the breaker may open."));
  keys.push_back(IntKey("payment", "breaker_open_seconds", 60, 1, 3600, "How long an open breaker refuses at once (then probes)."));
  keys.push_back(IntKey("payment", "reconcile_after_seconds", 120, 1, 86400,
                        "PENDING payments older than this are asked about at the gateway (lost confirm and webhook)."));
  keys.push_back(IntKey("payment", "abandon_after_seconds", 1800, 60, 604800,
                        "A payment the customer never paid (READY at the gateway) fails after this long."));
  keys.push_back(IntKey("payment", "worker_interval_ms", 1000, 50, 60000, "Refund and reconciliation round interval."));
  keys.push_back(IntKey("payment", "refund_backoff_max_ms", 300000, 1000, 86400000, "Longest wait between refund retries."));
  keys.push_back(IntKey("payment", "refund_concurrency", 16, 1, 128,
                        "Refunds (and reconciliation checks) the worker sends to the gateway at once; a round claims 4x as many."));
  keys.push_back(IntKey("payment", "sandbox_stall_ms", 30000, 0, 3600000,
                        "Sandbox: how long it stops answering about a payment paid with card 4000000000000119."));

  // log
  keys.push_back(StringKey("log", "level", "info", "Lowest severity written to the log.",
                           {"debug", "info", "warn", "error"}));
  keys.push_back(BoolKey("log", "access_log", true, "Write one log line per HTTP request."));

  // edge
  keys.push_back(ListKey("edge", "trusted_proxies", {},
                         "CIDRs of proxies whose X-Forwarded-For is believed for the client address."));
  keys.push_back(BoolKey("edge", "rate_limit_enabled", true,
                         "Enforce the per-IP / per-user request rate limits (token buckets, per instance)."));
  keys.push_back(IntKey("edge", "rate_limit_window_seconds", 60, 1, 86400,
                        "Window of every rate limit: N requests per window, refilled continuously."));
  keys.push_back(IntKey("edge", "rate_limit_max_keys", 100000, 16, 100000000,
                        "Most rate-limit buckets (IPs and users) kept in memory; least recently used are evicted."));
  keys.push_back(IntKey("edge", "rate_limit_auth_per_ip", 10, 0, 100000000,
                        "Login, register, refresh, identity verification (category auth): requests per window per IP; 0 = unlimited."));
  keys.push_back(IntKey("edge", "rate_limit_read_per_ip", 300, 0, 100000000,
                        "Public reads (category read): requests per window per IP (per user when signed in); 0 = unlimited."));
  keys.push_back(IntKey("edge", "rate_limit_queue_status_per_user", 60, 0, 100000000,
                        "Waiting-room status polls (category queue-status): requests per window per user; 0 = unlimited."));
  keys.push_back(IntKey("edge", "rate_limit_booking_per_user", 20, 0, 100000000,
                        "Holds and payments (category booking): requests per window per user; 0 = unlimited."));
  keys.push_back(IntKey("edge", "rate_limit_booking_per_ip", 50, 0, 100000000,
                        "Holds and payments (category booking): requests per window per client IP, all users together; 0 = unlimited."));
  keys.push_back(IntKey("edge", "rate_limit_default_per_user", 200, 0, 100000000,
                        "Other authenticated routes (categories default, queue): requests per window per user; 0 = unlimited."));
  keys.push_back(IntKey("edge", "rate_limit_default_per_ip", 100, 0, 100000000,
                        "Other anonymous routes and webhooks (categories default, queue): requests per window per IP; 0 = unlimited."));
  keys.push_back(ListKey("edge", "cors_origins", {},
                         "Origins allowed to call the API from a browser (exact, e.g. https://tickets.example.com, or \"*\"); "
                         "others get no CORS headers."));
  keys.push_back(ListKey("edge", "cors_methods", {"GET", "POST", "PUT", "PATCH", "DELETE"},
                         "Methods a CORS preflight may allow (only those the route has)."));
  keys.push_back(ListKey("edge", "cors_headers",
                         {"Authorization", "Content-Type", "Idempotency-Key", "X-Queue-Token", "X-Request-Id"},
                         "Request headers a CORS preflight allows."));
  keys.push_back(ListKey("edge", "cors_expose_headers",
                         {"X-Request-Id", "Retry-After", "RateLimit", "RateLimit-Policy", "Location", "ETag"},
                         "Response headers browsers may show to the calling script."));
  keys.push_back(BoolKey("edge", "cors_allow_credentials", false,
                         "Send Access-Control-Allow-Credentials: true to allowed origins."));
  keys.push_back(IntKey("edge", "cors_max_age_seconds", 600, 0, 86400, "How long browsers may cache a preflight answer."));
  keys.push_back(IntKey("edge", "hsts_max_age_seconds", 31536000, 0, 63072000,
                        "Strict-Transport-Security max-age on HTTPS requests (X-Forwarded-Proto from a trusted proxy); 0 = off."));
  keys.push_back(BoolKey("edge", "gzip", true, "Gzip JSON responses for clients that accept it."));
  keys.push_back(IntKey("edge", "gzip_min_bytes", 1024, 0, 16777216, "Smallest JSON body that is gzipped."));

  return keys;
}

}  // namespace

const std::vector<KeySpec>& Schema() {
  static const std::vector<KeySpec> kSchema = BuildSchema();
  return kSchema;
}

const std::vector<std::string>& Sections() {
  static const std::vector<std::string> kSections = {
      "server", "database", "kafka", "auth", "catalog", "queue", "reservation", "payment", "log", "edge",
  };
  return kSections;
}

}  // namespace ticketd::config
