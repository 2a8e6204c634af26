#pragma once
// The one wiring point: reads the validated config, builds pools, the router,
// the server and (as they land) the modules, and runs the process lifecycle.

#include <string>
#include <vector>

#include "auth/options.hpp"
#include "ticketd/core/config.hpp"

namespace ticketd::app {

/// Process exit codes that scripts may rely on.
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,      // runtime failure (cannot bind, unexpected error)
  kExitConfig = 2,       // invalid command line or configuration
  kExitDatabase = 3,     // migration failed or the database refused
};

/// Serves until SIGTERM/SIGINT, then drains and returns kExitOk.
int Serve(const config::Config& config);
/// Applies pending migrations and sets module role passwords.
int Migrate(const config::Config& config);
/// Prints the state of every module's outbox (backlog, oldest age, failed).
int OutboxStatus(const config::Config& config);
/// Re-publishes a DLQ topic's messages to their original topics (real brokers only).
int DlqReplay(const config::Config& config, const std::string& topic);
/// The topics ticketd publishes to, and their dead-letter topics.
std::vector<std::string> AllTopics();

/// The [auth] section as the module's options; ConfigError naming the key for
/// short or malformed keys.
auth::AuthOptions AuthOptionsFrom(const config::Config& config);

struct UserSpec {
  std::string email, password, name, phone, role;
};
/// `ticketd admin create-user`: bootstraps an account without captcha or identity verification.
int CreateUser(const config::Config& config, const UserSpec& user);
/// `ticketd seed`: the demo accounts of the dev config (refused in production); idempotent.
int Seed(const config::Config& config);

struct SeedUsersSpec {
  std::string prefix = "bench";
  int first = 1;
  int count = 0;
  std::string password;
  std::string tokens_out;  // when set: "email access_token" per line, a session issued per user
};
/// `ticketd seed-users`: bulk benchmark accounts sharing one password, hashed
/// once (refused in production: exit 2).
int SeedUsers(const config::Config& config, const SeedUsersSpec& spec);

/// Validates deployment rules beyond the schema (e.g. production refuses
/// dev-only settings). Throws config::ConfigError.
void ValidatePolicy(const config::Config& config);

}  // namespace ticketd::app
