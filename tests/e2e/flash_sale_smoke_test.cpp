// The flash-sale benchmark's smoke scenario in CI: a fresh database, bench
// users from `ticketd seed-users` (one hash, sessions issued), the real
// server, and tools/bench's load generator playing 60 customers through the
// whole booking flow against a 60-seat hall; the generator checks the
// invariants in Postgres and fails on any violation or customer error.
#include <doctest/doctest.h>

#include <boost/json.hpp>

#include <filesystem>
#include <fstream>

#include "support/http_client.hpp"
#include "support/pg.hpp"
#include "support/process.hpp"

using namespace ticketd;
namespace json = boost::json;

TEST_CASE("flash-sale smoke: customers through the whole flow, invariants hold") {
  test::TempDatabase db;
  auto env = test::E2eEnv(db.url());
  env["TICKETD_QUEUE_ADMISSION_INTERVAL_MS"] = "100";
  env["TICKETD_RESERVATION_SWEEP_INTERVAL_MS"] = "200";
  env["TICKETD_PAYMENT_WORKER_INTERVAL_MS"] = "200";
  env["TICKETD_RESERVATION_HOLD_SECONDS"] = "30";
  env["TICKETD_LOG_ACCESS_LOG"] = "false";
  env["TICKETD_EDGE_RATE_LIMIT_ENABLED"] = "false";
  auto [mrc, mout] = test::RunCommand({TICKETD_BINARY, "migrate"}, env);
  REQUIRE_MESSAGE(mrc == 0, mout);
  auto [src, sout] = test::RunCommand({TICKETD_BINARY, "seed"}, env);
  REQUIRE_MESSAGE(src == 0, sout);

  const auto users = std::filesystem::temp_directory_path() / ("flash-sale-smoke-" + db.name() + ".users");
  auto [urc, uout] = test::RunCommand({TICKETD_BINARY, "seed-users", "--count", "60", "--prefix", "smoke", "--password",
                                       "bench-password-1", "--tokens-out", users.string()},
                                      env);
  REQUIRE_MESSAGE(urc == 0, uout);
  CHECK(uout.find("seeded 60 users") != std::string::npos);
  {
    std::ifstream in(users);
    int lines = 0;
    for (std::string email, token; in >> email >> token;) ++lines;
    CHECK(lines == 60);
  }
  // Seeding again keeps the accounts (idempotent) and issues new sessions.
  auto [again_rc, again_out] = test::RunCommand({TICKETD_BINARY, "seed-users", "--count", "60", "--prefix", "smoke",
                                                 "--password", "bench-password-1", "--tokens-out", users.string()},
                                                env);
  REQUIRE_MESSAGE(again_rc == 0, again_out);

  test::TicketdProcess server({}, env);
  const auto port = server.WaitListening();
  REQUIRE(port != 0);
  REQUIRE(test::WaitReady(port));

  auto [rc, out] = test::RunCommand({TICKETD_FLASH_SALE_BINARY, "--scenario", "smoke", "--port", std::to_string(port),
                                     "--db-url", db.url(), "--users-file", users.string(), "--strict",
                                     "--settle-seconds", "30"},
                                    env);
  std::filesystem::remove(users);
  INFO(out);
  CHECK(rc == 0);
  const auto at = out.rfind("{\"scenario\"");
  REQUIRE(at != std::string::npos);
  const auto last = out.substr(at);
  const auto report = json::parse(last).as_object();
  CHECK(report.at("invariants_ok").as_bool());
  const auto& outcomes = report.at("outcomes").as_object();
  CHECK(outcomes.at("booked").to_number<int>() + outcomes.at("cancelled").to_number<int>() > 0);
  CHECK(outcomes.at("error").to_number<int>() == 0);
  CHECK(report.at("endpoints").as_object().contains("POST /reservations/hold"));
}

TEST_CASE("seed-users is refused in production") {
  test::TempDatabase db;
  auto env = test::E2eEnv(db.url());
  env["TICKETD_SERVER_ENVIRONMENT"] = "production";
  auto [rc, out] = test::RunCommand({TICKETD_BINARY, "seed-users", "--count", "1", "--password", "bench-password-1"}, env);
  CHECK(rc == 2);
}
