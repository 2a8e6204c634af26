#pragma once
// Domain events, envelope v1 (docs/events.md), and the transactional outbox.
//
// A module writes an event with AppendToOutbox() inside the same transaction
// as the state change it describes: committed together or not at all. The
// relay publishes outbox rows to Kafka (key = aggregateId, so one aggregate's
// events stay ordered); consumers apply them once each, recording the event
// id with MarkProcessed() in the same transaction as the effect.

#include <boost/json/object.hpp>

#include <pqxx/transaction>

#include <string>
#include <string_view>

namespace ticketd::events {

inline constexpr int kEnvelopeVersion = 1;

struct Metadata {
  std::string correlation_id;  // the request or saga the event belongs to
  std::string causation_id;    // the event or request that caused it
  std::string user_id;         // acting user, empty for system actions
};

struct Envelope {
  std::string event_id;        // UUID, unique across all events
  std::string event_type;      // e.g. "PaymentSucceeded"
  std::string aggregate_type;  // e.g. "Payment"
  std::string aggregate_id;    // Kafka key
  int version = 1;             // schema version of this event type's payload
  std::string occurred_at;     // RFC 3339 UTC with milliseconds
  Metadata metadata;
  boost::json::object payload;
};

/// A new envelope with a fresh event id and the current time.
Envelope Make(std::string event_type, std::string aggregate_type, std::string aggregate_id,
              boost::json::object payload, Metadata metadata = {}, int version = 1);

std::string Serialize(const Envelope& envelope);
/// Parses and validates an envelope; throws std::invalid_argument naming the
/// missing or malformed field.
Envelope Parse(std::string_view json);

/// Inserts the event into `<schema>.outbox` for `topic` within `tx`, and
/// notifies the relay (delivered only if `tx` commits). Throws on a
/// duplicate event id.
void AppendToOutbox(pqxx::work& tx, std::string_view schema, std::string_view topic, const Envelope& envelope);

/// Records that `consumer` applied the event in `<schema>.processed_events`.
/// Returns false when it was already recorded: the caller must skip the effect.
bool MarkProcessed(pqxx::work& tx, std::string_view schema, std::string_view consumer, const Envelope& envelope);

/// The LISTEN/NOTIFY channel of a schema's outbox.
std::string OutboxChannel(std::string_view schema);

/// DDL for a module's outbox and processed_events tables, as its first
/// migration should contain (documented in docs/events.md; tests use it for
/// fixture schemas).
std::string OutboxDdl(std::string_view schema);

}  // namespace ticketd::events
