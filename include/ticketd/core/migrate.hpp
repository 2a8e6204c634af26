#pragma once
// Schema migrations: migrations/<module>/NNNN_name.sql, applied in (module
// order, version) order under a Postgres advisory lock, recorded in
// ticketd.schema_migrations with a SHA-256 checksum. An applied migration whose
// file changed is an error (never edit an applied migration; add a new one).
//
// Before a module's first migration the runner bootstraps its boundary: the
// schema `<module>` and the login role `ticketd_<module>` with USAGE on that
// schema only and DML on the tables migrations create there. A module role
// cannot read another module's schema, nor create objects anywhere.

#include <pqxx/connection>

#include <string>
#include <vector>

namespace ticketd::db {

struct Migration {
  std::string module;  // = schema name
  int version = 0;
  std::string name;
  std::string sql;
  std::string checksum;  // hex SHA-256 of sql
};

Migration MakeMigration(std::string module, int version, std::string name, std::string sql);
/// The migrations compiled into this binary (generated at build time).
std::vector<Migration> EmbeddedMigrations();
/// Reads migrations/<module>/NNNN_name.sql below `dir`; throws on a bad name.
std::vector<Migration> LoadMigrationsFromDir(const std::string& dir);

/// The Postgres role a module's pool logs in as.
std::string ModuleRole(const std::string& module);

struct MigrationStatus {
  int applied = 0;
  int pending = 0;
  std::vector<std::string> problems;  // checksum mismatches, unknown applied versions
  [[nodiscard]] bool Current() const { return pending == 0 && problems.empty(); }
};

/// Applies every pending migration. `owner_conninfo` must be allowed to
/// create schemas and roles. `module_password` (may be empty) becomes the
/// password of every module role. Returns the list of applied names.
/// Throws std::runtime_error (with the migration's name) on failure or on a
/// checksum mismatch; a failed migration is rolled back whole.
std::vector<std::string> Migrate(const std::string& owner_conninfo, const std::vector<Migration>& migrations,
                                 const std::string& module_password);

/// Compares the database with `migrations` without changing anything.
MigrationStatus CheckMigrations(const std::string& owner_conninfo, const std::vector<Migration>& migrations);
MigrationStatus CheckMigrations(pqxx::connection& conn, const std::vector<Migration>& migrations);

}  // namespace ticketd::db
