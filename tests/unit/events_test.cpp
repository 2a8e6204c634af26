#include <doctest/doctest.h>

#include <boost/json.hpp>

#include "core/kafka.hpp"
#include "ticketd/core/events.hpp"
#include "ticketd/core/ids.hpp"

using namespace ticketd;

TEST_CASE("events: envelope v1 round trip") {
  auto e = events::Make("PaymentSucceeded", "Payment", "p-1", {{"amount", 150000}, {"currency", "KRW"}},
                        {"corr-1", "cause-1", "user-1"}, 2);
  CHECK(IsUuid(e.event_id));
  CHECK(e.occurred_at.size() == 24);
  CHECK(e.occurred_at.back() == 'Z');
  const auto text = events::Serialize(e);
  const auto v = boost::json::parse(text).as_object();
  for (const char* key : {"eventId", "eventType", "aggregateType", "aggregateId", "version", "occurredAt", "metadata", "payload"}) {
    CHECK_MESSAGE(v.contains(key), key);
  }
  CHECK(v.at("metadata").at("correlationId").as_string() == "corr-1");
  const auto back = events::Parse(text);
  CHECK(back.event_id == e.event_id);
  CHECK(back.event_type == "PaymentSucceeded");
  CHECK(back.aggregate_id == "p-1");
  CHECK(back.version == 2);
  CHECK(back.metadata.user_id == "user-1");
  CHECK(back.payload.at("amount").as_int64() == 150000);

  auto system = events::Make("ReservationExpired", "Reservation", "r-1", {});
  CHECK(boost::json::parse(events::Serialize(system)).at("metadata").at("userId").is_null());
  CHECK(events::Parse(events::Serialize(system)).metadata.user_id.empty());
}

TEST_CASE("events: invalid envelopes are rejected naming the field") {
  CHECK_THROWS_WITH(events::Parse("not json"), doctest::Contains("not JSON"));
  CHECK_THROWS_WITH(events::Parse("[1]"), doctest::Contains("object"));
  auto ok = boost::json::parse(events::Serialize(events::Make("T", "A", "a", {}))).as_object();
  for (const char* field : {"eventId", "eventType", "aggregateType", "aggregateId", "occurredAt", "version", "payload"}) {
    auto broken = ok;
    broken.erase(field);
    CHECK_THROWS_WITH_AS(events::Parse(boost::json::serialize(broken)), doctest::Contains(field), std::invalid_argument);
  }
  auto bad_id = ok;
  bad_id["eventId"] = "not-a-uuid";
  CHECK_THROWS_AS(events::Parse(boost::json::serialize(bad_id)), std::invalid_argument);
  auto bad_env = ok;
  bad_env["envelope"] = 2;
  CHECK_THROWS_AS(events::Parse(boost::json::serialize(bad_env)), std::invalid_argument);
}

TEST_CASE("events: topic names and error classes") {
  CHECK(kafka::DlqTopicFor("payment.events") == "dlq.payment");
  CHECK(kafka::DlqTopicFor("reservation.events") == "dlq.reservation");
  CHECK(kafka::DlqTopicFor("odd") == "dlq.odd");
  CHECK(kafka::IsRetryable(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT));
  CHECK(kafka::IsRetryable(RD_KAFKA_RESP_ERR__TRANSPORT));
  CHECK(kafka::IsRetryable(RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS));
  CHECK_FALSE(kafka::IsRetryable(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE));
  CHECK_FALSE(kafka::IsRetryable(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED));
}
