// PortOne's own server SDK against the sandbox gateway: tools/contract/
// portone-sdk.mjs (@portone/server-sdk 0.19.0, pinned) takes the sandbox's
// own listener (payment.sandbox_listen) as its base URL unchanged, and checks
// every answer and every webhook the sandbox sent against JSON Schemas
// generated from the SDK's TypeScript types.
#include <doctest/doctest.h>

#include <boost/json.hpp>

#include <filesystem>
#include <string>

#include "contract_support.hpp"
#include "support/pg.hpp"
#include "support/process.hpp"

using namespace ticketd;

using test::Contract;

TEST_CASE("e2e contract: PortOne's server SDK works unchanged against the sandbox gateway's own listener") {
  test::RequireNodeModule("@portone/server-sdk");
  test::TempDatabase db;
  auto env = test::E2eEnv(db.url());
  test::MigrateDatabase(env, false);
  test::TicketdProcess server({}, env);
  REQUIRE(server.WaitListening() != 0);
  std::string sandbox;
  for (const auto& line : server.Lines()) {
    if (line.find("\"msg\":\"sandbox gateway listening\"") == std::string::npos) continue;
    sandbox = std::string(boost::json::parse(line).at("url").as_string());
  }
  REQUIRE_MESSAGE(!sandbox.empty(), "no \"sandbox gateway listening\" log line");
  auto [rc, out] = test::RunCommand({"/usr/bin/timeout", "180", "node", Contract("portone-sdk.mjs"), sandbox}, {});
  MESSAGE(out);
  CHECK_MESSAGE(rc == 0, "PortOne SDK interop failures (above)");
}
