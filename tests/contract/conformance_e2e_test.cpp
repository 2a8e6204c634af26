// Third-party clients against the real binary: tools/contract/conformance.mjs
// (Node, Ajv, JSON Schema 2020-12) exercises every operation of the served
// OpenAPI document and validates every answer's status, content type and body
// against the operation's response schema; an undeclared status or field
// fails. Then tools/contract/kafka-consumer.mjs (kafkajs 2.2.4, no codec
// plugins) reads every topic of the embedded cluster and checks each message
// against docs/events.md. The pinned npm packages come from tools/contract
// (npm ci in tools/test).
#include <doctest/doctest.h>

#include <boost/json.hpp>

#include <filesystem>
#include <string>

#include "contract_support.hpp"
#include "support/http_client.hpp"
#include "support/pg.hpp"
#include "support/process.hpp"

using namespace ticketd;

using test::Contract;

TEST_CASE("e2e contract: every operation's answers conform to docs/openapi.yaml (Ajv) and kafkajs reads every topic per docs/events.md") {
  test::RequireNodeModule("ajv");
  test::TempDatabase db;
  auto env = test::E2eEnv(db.url());
  env["TICKETD_QUEUE_ADMISSION_INTERVAL_MS"] = "100";
  env["TICKETD_PAYMENT_WORKER_INTERVAL_MS"] = "200";
  test::MigrateDatabase(env, true);
  test::TicketdProcess server({}, env);
  const auto port = server.WaitListening();
  REQUIRE(port != 0);
  REQUIRE(test::WaitReady(port));

  auto [rc, out] = test::RunCommand({"/usr/bin/timeout", "300", "node", Contract("conformance.mjs"),
                                     "http://127.0.0.1:" + std::to_string(port)},
                                    {});
  MESSAGE(out);
  CHECK_MESSAGE(rc == 0, "conformance failures (above)");

  std::string bootstrap;
  for (const auto& line : server.Lines()) {
    if (line.find("\"msg\":\"embedded kafka started\"") == std::string::npos) continue;
    bootstrap = std::string(boost::json::parse(line).at("bootstrap").as_string());
  }
  REQUIRE_MESSAGE(!bootstrap.empty(), "no \"embedded kafka started\" log line");
  // The event types the conformance walk causes.
  auto [krc, kout] = test::RunCommand({"/usr/bin/timeout", "120", "node", Contract("kafka-consumer.mjs"), bootstrap,
                                       "EventCancelled,ReservationHeld,ReservationConfirmed,ReservationCancelled,"
                                       "PaymentSucceeded,PaymentRefunded"},
                                      {});
  MESSAGE(kout);
  CHECK_MESSAGE(krc == 0, "kafka consumer failures (above)");
}
