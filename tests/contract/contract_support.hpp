#pragma once
// What the contract tests share: the path of tools/contract (the pinned npm
// clients), the check that `npm ci` ran there, and a migrated (and, when
// asked, seeded) database for the binary under test.
#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <string>

#include "support/process.hpp"

namespace ticketd::test {

// A path, not std::string concatenation: GCC 12 at -O1 under TSan reports a
// false -Warray-bounds on `std::string(const char*) + "..."` here.
inline std::string Contract(const char* rest) {
  return (std::filesystem::path(TICKETD_SOURCE_DIR) / "tools/contract" / rest).string();
}

/// Fails the test unless tools/contract/node_modules holds `package`.
inline void RequireNodeModule(const char* package) {
  REQUIRE_MESSAGE(std::filesystem::exists(std::filesystem::path(Contract("node_modules")) / package),
                  "tools/contract/node_modules is missing: run `npm ci` in tools/contract (tools/test does)");
}

/// `ticketd migrate`, then `ticketd seed` when `seed`, with `env`.
inline void MigrateDatabase(const std::map<std::string, std::string>& env, bool seed) {
  auto [mrc, mout] = RunCommand({TICKETD_BINARY, "migrate"}, env);
  REQUIRE_MESSAGE(mrc == 0, mout);
  if (!seed) return;
  auto [src, sout] = RunCommand({TICKETD_BINARY, "seed"}, env);
  REQUIRE_MESSAGE(src == 0, sout);
}

}  // namespace ticketd::test
