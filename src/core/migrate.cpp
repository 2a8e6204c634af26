#include "ticketd/core/migrate.hpp"

#include "ticketd/core/crypto.hpp"

#include <pqxx/pqxx>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "ticketd/core/db.hpp"
#include "ticketd/core/log.hpp"

namespace ticketd::db {

namespace {

// One key for every ticketd instance migrating this database.
constexpr long long kMigrationLockKey = 0x7469636b65746431LL;  // "ticketd1"

bool ValidModule(const std::string& module) {
  return !module.empty() && module.size() <= 40 &&
         std::all_of(module.begin(), module.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
}

std::string Key(const std::string& module, int version) { return module + "/" + std::to_string(version); }

struct Applied {
  std::string name;
  std::string checksum;
};

std::map<std::string, Applied> ReadApplied(pqxx::connection& conn) {
  pqxx::nontransaction tx(conn);
  const auto exists = tx.exec1("SELECT to_regclass('ticketd.schema_migrations') IS NOT NULL")[0].as<bool>();
  std::map<std::string, Applied> out;
  if (!exists) return out;
  for (const auto& row : tx.exec("SELECT module, version, name, checksum FROM ticketd.schema_migrations")) {
    out[Key(row[0].as<std::string>(), row[1].as<int>())] = {row[2].as<std::string>(), row[3].as<std::string>()};
  }
  return out;
}

std::vector<std::string> Problems(const std::map<std::string, Applied>& applied,
                                  const std::vector<Migration>& migrations) {
  std::vector<std::string> problems;
  std::map<std::string, const Migration*> known;
  for (const auto& m : migrations) known[Key(m.module, m.version)] = &m;
  for (const auto& [key, a] : applied) {
    auto it = known.find(key);
    if (it == known.end()) {
      problems.push_back("applied migration " + key + "_" + a.name + " is unknown to this binary (newer schema?)");
    } else if (it->second->checksum != a.checksum) {
      problems.push_back("migration " + key + "_" + a.name +
                         " was changed after it was applied (checksum mismatch); add a new migration instead");
    }
  }
  return problems;
}

// Runs fn in its own transaction, retrying when another database of the same
// cluster races us on cluster-wide role catalog rows.
template <typename F>
void RetryCatalogRace(pqxx::connection& conn, F fn) {
  for (int attempt = 1;; ++attempt) {
    try {
      pqxx::work tx(conn);
      fn(tx);
      tx.commit();
      return;
    } catch (const pqxx::sql_error& e) {
      const std::string state = SqlState(e);
      const bool race = state == "XX000" || state == "23505" || state == "42710" || state == "40001";
      if (!race || attempt >= 10) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(10 * attempt));
    }
  }
}

void BootstrapModule(pqxx::connection& conn, const std::string& module) {
  const std::string role = ModuleRole(module);
  RetryCatalogRace(conn, [&](pqxx::work& tx) {
    tx.exec0("DO $$ BEGIN CREATE ROLE " + tx.quote_name(role) +
             " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT; "
             "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$");
  });
  pqxx::work tx(conn);
  const std::string schema = tx.quote_name(module);
  const std::string r = tx.quote_name(role);
  tx.exec0("CREATE SCHEMA IF NOT EXISTS " + schema);
  tx.exec0("REVOKE ALL ON SCHEMA " + schema + " FROM PUBLIC");
  tx.exec0("GRANT USAGE ON SCHEMA " + schema + " TO " + r);
  tx.exec0("ALTER DEFAULT PRIVILEGES IN SCHEMA " + schema + " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO " + r);
  tx.exec0("ALTER DEFAULT PRIVILEGES IN SCHEMA " + schema + " GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO " + r);
  tx.exec0("ALTER DEFAULT PRIVILEGES IN SCHEMA " + schema + " GRANT EXECUTE ON FUNCTIONS TO " + r);
  tx.exec0("GRANT CONNECT ON DATABASE " + tx.quote_name(tx.exec1("SELECT current_database()")[0].as<std::string>()) +
           " TO " + r);
  tx.commit();
}

void GrantExisting(pqxx::connection& conn, const std::string& module) {
  pqxx::work tx(conn);
  const std::string schema = tx.quote_name(module);
  const std::string r = tx.quote_name(ModuleRole(module));
  tx.exec0("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA " + schema + " TO " + r);
  tx.exec0("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA " + schema + " TO " + r);
  tx.commit();
}

// `NNNN_name.sql` with name in [a-z0-9_]+ (no <regex>: GCC 12 warns inside it at -O1).
bool ParseFileName(const std::string& fname, int& version, std::string& name) {
  constexpr std::string_view kExt = ".sql";
  if (fname.size() < 4 + 1 + 1 + kExt.size() || !fname.ends_with(kExt) || fname[4] != '_') return false;
  version = 0;
  for (int i = 0; i < 4; ++i) {
    if (fname[i] < '0' || fname[i] > '9') return false;
    version = version * 10 + (fname[i] - '0');
  }
  name = fname.substr(5, fname.size() - 5 - kExt.size());
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

}  // namespace

Migration MakeMigration(std::string module, int version, std::string name, std::string sql) {
  if (!ValidModule(module)) throw std::invalid_argument("invalid module name for migrations: " + module);
  Migration m{std::move(module), version, std::move(name), std::move(sql), {}};
  m.checksum = crypto::Sha256Hex(m.sql);
  return m;
}

std::string ModuleRole(const std::string& module) { return "ticketd_" + module; }

std::vector<Migration> LoadMigrationsFromDir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<Migration> out;
  for (const auto& module_dir : fs::directory_iterator(dir)) {
    if (!module_dir.is_directory()) continue;
    const std::string module = module_dir.path().filename().string();
    for (const auto& file : fs::directory_iterator(module_dir.path())) {
      const std::string fname = file.path().filename().string();
      int version = 0;
      std::string name;
      if (!ParseFileName(fname, version, name)) {
        throw std::invalid_argument("migration " + module + "/" + fname + ": expected NNNN_name.sql");
      }
      std::ifstream in(file.path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      out.push_back(MakeMigration(module, version, name, ss.str()));
    }
  }
  std::sort(out.begin(), out.end(),
            [](const Migration& a, const Migration& b) { return std::tie(a.module, a.version) < std::tie(b.module, b.version); });
  return out;
}

std::vector<std::string> Migrate(const std::string& owner_conninfo, const std::vector<Migration>& migrations,
                                 const std::string& module_password) {
  pqxx::connection conn(owner_conninfo);
  pqxx::nontransaction(conn).exec1("SELECT pg_advisory_lock(" + std::to_string(kMigrationLockKey) + ")");
  std::vector<std::string> done;
  try {
    {
      pqxx::work tx(conn);
      tx.exec0("CREATE SCHEMA IF NOT EXISTS ticketd");
      tx.exec0("REVOKE ALL ON SCHEMA ticketd FROM PUBLIC");
      tx.exec0(
          "CREATE TABLE IF NOT EXISTS ticketd.schema_migrations ("
          " module text NOT NULL, version int NOT NULL, name text NOT NULL, checksum text NOT NULL,"
          " applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (module, version))");
      tx.commit();
    }
    const auto applied = ReadApplied(conn);
    if (auto problems = Problems(applied, migrations); !problems.empty()) throw std::runtime_error(problems.front());

    std::vector<std::string> modules;
    for (const auto& m : migrations) {
      if (std::find(modules.begin(), modules.end(), m.module) == modules.end()) modules.push_back(m.module);
    }
    for (const auto& module : modules) {
      BootstrapModule(conn, module);
      for (const auto& m : migrations) {
        if (m.module != module || applied.contains(Key(m.module, m.version))) continue;
        const std::string label = Key(m.module, m.version) + "_" + m.name;
        try {
          pqxx::work tx(conn);
          tx.exec0("SET LOCAL search_path TO " + tx.quote_name(m.module) + ", public");
          tx.exec(m.sql);
          tx.exec_params0("INSERT INTO ticketd.schema_migrations (module, version, name, checksum) VALUES ($1,$2,$3,$4)",
                          m.module, m.version, m.name, m.checksum);
          tx.commit();
        } catch (const std::exception& e) {
          throw std::runtime_error("migration " + label + " failed: " + e.what());
        }
        log::Info("migration applied", {{"migration", label}});
        done.push_back(label);
      }
      GrantExisting(conn, module);
      if (!module_password.empty()) {
        RetryCatalogRace(conn, [&](pqxx::work& tx) {
          tx.exec0("ALTER ROLE " + tx.quote_name(ModuleRole(module)) + " PASSWORD " + tx.quote(module_password));
        });
      }
    }
  } catch (...) {
    try {
      pqxx::nontransaction(conn).exec1("SELECT pg_advisory_unlock(" + std::to_string(kMigrationLockKey) + ")");
    } catch (...) {
      // The lock dies with the session anyway; keep the original error.
    }
    throw;
  }
  pqxx::nontransaction(conn).exec1("SELECT pg_advisory_unlock(" + std::to_string(kMigrationLockKey) + ")");
  return done;
}

MigrationStatus CheckMigrations(const std::string& owner_conninfo, const std::vector<Migration>& migrations) {
  pqxx::connection conn(owner_conninfo);
  return CheckMigrations(conn, migrations);
}

MigrationStatus CheckMigrations(pqxx::connection& conn, const std::vector<Migration>& migrations) {
  const auto applied = ReadApplied(conn);
  MigrationStatus status;
  status.problems = Problems(applied, migrations);
  for (const auto& m : migrations) {
    if (applied.contains(Key(m.module, m.version))) {
      ++status.applied;
    } else {
      ++status.pending;
    }
  }
  return status;
}

}  // namespace ticketd::db
