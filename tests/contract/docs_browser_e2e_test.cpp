// /docs in Debian's Chromium, headless, driven by tools/contract/docs-browser.mjs
// (puppeteer-core, pinned): every operation listed, $ref path parameters, the
// hold request body's schema, try-it-out (a list, a path parameter, a JSON
// body, Authorize and an authenticated call) against this server, no CSP
// violation, nothing loaded from elsewhere, and the vendored Swagger UI byte
// for byte the pinned npm package. tools/deps installs chromium.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "contract_support.hpp"
#include "support/http_client.hpp"
#include "support/pg.hpp"
#include "support/process.hpp"

using namespace ticketd;

using test::Contract;

TEST_CASE("e2e contract: /docs in headless Chromium — every operation, the hold body's schema, try-it-out against this server") {
  REQUIRE_MESSAGE(std::filesystem::exists("/usr/bin/chromium"), "Debian's chromium is not installed (tools/deps installs it)");
  test::RequireNodeModule("puppeteer-core");
  test::TempDatabase db;
  auto env = test::E2eEnv(db.url());
  test::MigrateDatabase(env, true);
  test::TicketdProcess server({}, env);
  const auto port = server.WaitListening();
  REQUIRE(port != 0);
  REQUIRE(test::WaitReady(port));
  auto [rc, out] = test::RunCommand({"/usr/bin/timeout", "240", "node", Contract("docs-browser.mjs"),
                                     "http://127.0.0.1:" + std::to_string(port)},
                                    {});
  MESSAGE(out);
  CHECK_MESSAGE(rc == 0, "docs page failures (above)");
}
