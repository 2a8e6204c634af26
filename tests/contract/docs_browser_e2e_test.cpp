// /docs in Debian's Chromium, headless, driven by tools/contract/docs-browser.mjs
// (puppeteer-core, pinned): every operation listed, $ref path parameters, the
// hold request body's schema, try-it-out (a list, a path parameter, a JSON
// body, Authorize and an authenticated call) against this server, no CSP
// violation, nothing loaded from elsewhere, and the vendored Swagger UI byte
// for byte the pinned npm package. tools/deps installs chromium.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "support/http_client.hpp"
#include "support/pg.hpp"
#include "support/process.hpp"

using namespace ticketd;

namespace {
std::string Contract(const char* rest) { return (std::filesystem::path(TICKETD_SOURCE_DIR) / "tools/contract" / rest).string(); }
}  // namespace

TEST_CASE("e2e contract: /docs in headless Chromium — every operation, the hold body's schema, try-it-out against this server") {
  REQUIRE_MESSAGE(std::filesystem::exists("/usr/bin/chromium"), "Debian's chromium is not installed (tools/deps installs it)");
  REQUIRE_MESSAGE(std::filesystem::exists(Contract("node_modules/puppeteer-core")),
                  "tools/contract/node_modules is missing: run `npm ci` in tools/contract (tools/test does)");
  test::TempDatabase db;
  auto env = test::E2eEnv(db.url());
  auto [mrc, mout] = test::RunCommand({TICKETD_BINARY, "migrate"}, env);
  REQUIRE_MESSAGE(mrc == 0, mout);
  auto [src, sout] = test::RunCommand({TICKETD_BINARY, "seed"}, env);
  REQUIRE_MESSAGE(src == 0, sout);
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
