#include "ticketd/core/events.hpp"

#include <boost/json.hpp>

#include <chrono>
#include <stdexcept>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "ticketd/core/db.hpp"
#include "ticketd/core/ids.hpp"

namespace ticketd::events {

namespace json = boost::json;

namespace {

std::string NowRfc3339() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z", fmt::gmtime(std::chrono::system_clock::to_time_t(now)), ms);
}

const json::string& RequireString(const json::object& o, std::string_view key, std::string_view path) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_string() || v->as_string().empty()) {
    throw std::invalid_argument("envelope: " + std::string(path) + std::string(key) + " must be a non-empty string");
  }
  return v->as_string();
}

std::string OptionalString(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return {};
  if (!v->is_string()) throw std::invalid_argument("envelope: metadata." + std::string(key) + " must be a string");
  return std::string(v->as_string());
}

void RequireIdentifier(std::string_view schema) {
  if (schema.empty() || schema.size() > 40) throw std::invalid_argument("bad schema name");
  for (char c : schema) {
    if (!((c >= 'a' && c <= 'z') || c == '_')) throw std::invalid_argument("bad schema name");
  }
}

}  // namespace

Envelope Make(std::string event_type, std::string aggregate_type, std::string aggregate_id, json::object payload,
              Metadata metadata, int version) {
  Envelope e;
  e.event_id = NewUuid();
  e.event_type = std::move(event_type);
  e.aggregate_type = std::move(aggregate_type);
  e.aggregate_id = std::move(aggregate_id);
  e.version = version;
  e.occurred_at = NowRfc3339();
  e.metadata = std::move(metadata);
  e.payload = std::move(payload);
  return e;
}

std::string Serialize(const Envelope& e) {
  json::object meta{{"correlationId", e.metadata.correlation_id.empty() ? json::value(nullptr) : json::value(e.metadata.correlation_id)},
                    {"causationId", e.metadata.causation_id.empty() ? json::value(nullptr) : json::value(e.metadata.causation_id)},
                    {"userId", e.metadata.user_id.empty() ? json::value(nullptr) : json::value(e.metadata.user_id)}};
  json::object o{{"envelope", kEnvelopeVersion},
                 {"eventId", e.event_id},
                 {"eventType", e.event_type},
                 {"aggregateType", e.aggregate_type},
                 {"aggregateId", e.aggregate_id},
                 {"version", e.version},
                 {"occurredAt", e.occurred_at},
                 {"metadata", std::move(meta)},
                 {"payload", e.payload}};
  return json::serialize(o);
}

Envelope Parse(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) throw std::invalid_argument("envelope: not JSON: " + ec.message());
  if (!v.is_object()) throw std::invalid_argument("envelope: not a JSON object");
  const auto& o = v.as_object();
  if (const auto* env = o.if_contains("envelope"); env != nullptr && !(env->is_int64() && env->as_int64() == kEnvelopeVersion)) {
    throw std::invalid_argument("envelope: unsupported envelope version");
  }
  Envelope e;
  e.event_id = std::string(RequireString(o, "eventId", ""));
  if (!IsUuid(e.event_id)) throw std::invalid_argument("envelope: eventId must be a UUID");
  e.event_type = std::string(RequireString(o, "eventType", ""));
  e.aggregate_type = std::string(RequireString(o, "aggregateType", ""));
  e.aggregate_id = std::string(RequireString(o, "aggregateId", ""));
  e.occurred_at = std::string(RequireString(o, "occurredAt", ""));
  const auto* version = o.if_contains("version");
  if (version == nullptr || !version->is_int64() || version->as_int64() < 1 || version->as_int64() > 1000) {
    throw std::invalid_argument("envelope: version must be a positive integer");
  }
  e.version = static_cast<int>(version->as_int64());
  if (const auto* meta = o.if_contains("metadata"); meta != nullptr && !meta->is_null()) {
    if (!meta->is_object()) throw std::invalid_argument("envelope: metadata must be an object");
    e.metadata.correlation_id = OptionalString(meta->as_object(), "correlationId");
    e.metadata.causation_id = OptionalString(meta->as_object(), "causationId");
    e.metadata.user_id = OptionalString(meta->as_object(), "userId");
  }
  const auto* payload = o.if_contains("payload");
  if (payload == nullptr || !payload->is_object()) throw std::invalid_argument("envelope: payload must be an object");
  e.payload = payload->as_object();
  return e;
}

std::string OutboxChannel(std::string_view schema) { return "ticketd_outbox_" + std::string(schema); }

void AppendToOutbox(pqxx::work& tx, std::string_view schema, std::string_view topic, const Envelope& e) {
  RequireIdentifier(schema);
  const std::string s(schema);
  db::ExecPrepared(tx,
                   "INSERT INTO " + s +
                       ".outbox (event_id, topic, aggregate_type, aggregate_id, event_type, version, envelope)"
                       " VALUES ($1::uuid, $2, $3, $4, $5, $6, $7::jsonb)",
                   e.event_id, std::string(topic), e.aggregate_type, e.aggregate_id, e.event_type, e.version,
                   Serialize(e));
  // After the commit, not inside it (see db::AfterCommit): a rollback sends nothing.
  db::AfterCommit("NOTIFY " + OutboxChannel(schema));
}

bool MarkProcessed(pqxx::work& tx, std::string_view schema, std::string_view consumer, const Envelope& e) {
  RequireIdentifier(schema);
  const auto r = tx.exec_params("INSERT INTO " + std::string(schema) +
                                    ".processed_events (consumer, event_id, event_type) VALUES ($1, $2::uuid, $3)"
                                    " ON CONFLICT DO NOTHING",
                                std::string(consumer), e.event_id, e.event_type);
  return r.affected_rows() == 1;
}

std::string OutboxDdl(std::string_view schema) {
  RequireIdentifier(schema);
  const std::string s(schema);
  return fmt::format(R"SQL(
CREATE TABLE {0}.outbox (
  id              bigserial PRIMARY KEY,
  event_id        uuid NOT NULL UNIQUE,
  topic           text NOT NULL,
  aggregate_type  text NOT NULL,
  aggregate_id    text NOT NULL,
  event_type      text NOT NULL,
  version         int  NOT NULL,
  envelope        jsonb NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  published_at    timestamptz,
  attempts        int NOT NULL DEFAULT 0,
  last_error      text,
  failed_at       timestamptz
);
CREATE INDEX outbox_pending ON {0}.outbox (id) WHERE published_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_published ON {0}.outbox (published_at) WHERE published_at IS NOT NULL;
CREATE TABLE {0}.processed_events (
  consumer      text NOT NULL,
  event_id      uuid NOT NULL,
  event_type    text NOT NULL,
  processed_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id)
);
)SQL",
                     s);
}

}  // namespace ticketd::events
