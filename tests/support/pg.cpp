#include "pg.hpp"

#include <doctest/doctest.h>

#include <pqxx/pqxx>

#include <cstdlib>

#include "ticketd/core/ids.hpp"

namespace ticketd::test {

std::string ClusterUrl() {
  const char* url = std::getenv("TD_TEST_PGURL");
  REQUIRE_MESSAGE(url != nullptr, "TD_TEST_PGURL is not set: run the suite through tools/test");
  return url;
}

namespace {
std::string ReplaceDb(const std::string& url, const std::string& db) {
  const auto slash = url.rfind('/');
  return url.substr(0, slash + 1) + db;
}
}  // namespace

TempDatabase::TempDatabase() {
  const std::string base = ClusterUrl();
  std::string id = NewUuid();
  std::erase(id, '-');
  name_ = "t_" + id.substr(0, 16);
  pqxx::connection c(base);
  pqxx::nontransaction tx(c);
  tx.exec0("CREATE DATABASE " + tx.quote_name(name_));
  url_ = ReplaceDb(base, name_);
}

TempDatabase::~TempDatabase() {
  try {
    pqxx::connection c(ClusterUrl());
    pqxx::nontransaction tx(c);
    tx.exec0("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
  } catch (...) {
    // Best effort: the cluster is thrown away after the run anyway.
  }
}

}  // namespace ticketd::test
