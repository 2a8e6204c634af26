#include <doctest/doctest.h>

#include <pqxx/pqxx>

#include <thread>

#include "support/pg.hpp"
#include "ticketd/core/db.hpp"
#include "ticketd/core/migrate.hpp"

using namespace ticketd;

namespace {

std::vector<db::Migration> Fixtures() {
  return db::LoadMigrationsFromDir(std::string(TICKETD_SOURCE_DIR) + "/tests/fixtures/migrations");
}

int Count(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  return tx.exec1(sql)[0].as<int>();
}

std::string SqlState(const std::string& url, const std::string& sql) {
  try {
    pqxx::connection c(url);
    pqxx::work tx(c);
    tx.exec(sql);
    tx.commit();
    return "ok";
  } catch (const pqxx::sql_error& e) {
    return db::SqlState(e);
  }
}

}  // namespace

TEST_CASE("migrate: applies in order, records checksums, is idempotent") {
  test::TempDatabase db;
  const auto migrations = Fixtures();
  REQUIRE(migrations.size() == 3);
  CHECK(db::CheckMigrations(db.url(), migrations).pending == 3);

  const auto applied = db::Migrate(db.url(), migrations, "");
  CHECK(applied == std::vector<std::string>{"alpha/1_init", "alpha/2_more", "beta/1_init"});
  CHECK(Count(db.url(), "SELECT count(*) FROM alpha.things WHERE name = 'seeded'") == 1);
  CHECK(Count(db.url(), "SELECT count(*) FROM ticketd.schema_migrations") == 3);
  CHECK(db::CheckMigrations(db.url(), migrations).Current());

  CHECK(db::Migrate(db.url(), migrations, "").empty());
  CHECK(Count(db.url(), "SELECT count(*) FROM alpha.things") == 1);
}

TEST_CASE("migrate: a module's role reaches its own schema only") {
  test::TempDatabase db;
  db::Migrate(db.url(), Fixtures(), "");
  const std::string alpha = db::WithCredentials(db.url(), db::ModuleRole("alpha"), "");

  CHECK(SqlState(alpha, "INSERT INTO alpha.things (name) VALUES ('mine')") == "ok");
  CHECK(SqlState(alpha, "UPDATE alpha.things SET name = 'x' WHERE name = 'mine'") == "ok");
  CHECK(SqlState(alpha, "SELECT * FROM alpha.things") == "ok");
  // insufficient_privilege (42501) everywhere else:
  CHECK(SqlState(alpha, "SELECT * FROM beta.items") == "42501");
  CHECK(SqlState(alpha, "INSERT INTO beta.items (secret) VALUES ('x')") == "42501");
  CHECK(SqlState(alpha, "SELECT * FROM ticketd.schema_migrations") == "42501");
  CHECK(SqlState(alpha, "CREATE TABLE alpha.sneaky (id int)") == "42501");
  CHECK(SqlState(alpha, "DROP TABLE alpha.things") == "42501");
  CHECK(SqlState(alpha, "CREATE TABLE public.sneaky (id int)") == "42501");
}

TEST_CASE("migrate: module role passwords are set when configured") {
  test::TempDatabase db;
  db::Migrate(db.url(), Fixtures(), "s3cret-module-password");
  CHECK(Count(db.url(), "SELECT count(*) FROM pg_authid WHERE rolname IN ('ticketd_alpha','ticketd_beta') "
                        "AND rolpassword IS NOT NULL AND rolcanlogin") == 2);
}

TEST_CASE("migrate: an edited applied migration is an error") {
  test::TempDatabase db;
  auto migrations = Fixtures();
  db::Migrate(db.url(), migrations, "");
  migrations[0] = db::MakeMigration("alpha", 1, "init", migrations[0].sql + "\n-- edited\n");
  CHECK_THROWS_WITH_AS(db::Migrate(db.url(), migrations, ""), doctest::Contains("checksum mismatch"), std::runtime_error);
  const auto status = db::CheckMigrations(db.url(), migrations);
  CHECK_FALSE(status.Current());
  REQUIRE(status.problems.size() == 1);
}

TEST_CASE("migrate: a migration unknown to this binary is reported") {
  test::TempDatabase db;
  auto migrations = Fixtures();
  db::Migrate(db.url(), migrations, "");
  migrations.pop_back();
  CHECK_FALSE(db::CheckMigrations(db.url(), migrations).Current());
}

TEST_CASE("migrate: a failing migration rolls back whole and names itself") {
  test::TempDatabase db;
  std::vector<db::Migration> migrations{
      db::MakeMigration("gamma", 1, "ok", "CREATE TABLE gamma.a (id int);"),
      db::MakeMigration("gamma", 2, "broken", "CREATE TABLE gamma.b (id int); SELECT no_such_function();")};
  CHECK_THROWS_WITH_AS(db::Migrate(db.url(), migrations, ""), doctest::Contains("gamma/2_broken"), std::runtime_error);
  CHECK(Count(db.url(), "SELECT count(*) FROM ticketd.schema_migrations") == 1);
  CHECK(Count(db.url(), "SELECT count(*) FROM pg_tables WHERE schemaname = 'gamma' AND tablename = 'b'") == 0);
}

TEST_CASE("migrate: concurrent runs apply each migration once") {
  test::TempDatabase db;
  const auto migrations = Fixtures();
  std::vector<std::string> a, b;
  std::thread t1([&] { a = db::Migrate(db.url(), migrations, ""); });
  std::thread t2([&] { b = db::Migrate(db.url(), migrations, ""); });
  t1.join();
  t2.join();
  CHECK(a.size() + b.size() == 3);
  CHECK(Count(db.url(), "SELECT count(*) FROM ticketd.schema_migrations") == 3);
  CHECK(Count(db.url(), "SELECT count(*) FROM alpha.things WHERE name = 'seeded'") == 1);
}

TEST_CASE("migrate: the migrations compiled into ticketd apply cleanly") {
  test::TempDatabase db;
  const auto embedded = db::EmbeddedMigrations();
  db::Migrate(db.url(), embedded, "");
  CHECK(db::CheckMigrations(db.url(), embedded).Current());
}
