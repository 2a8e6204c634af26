#pragma once
// The one wiring point: reads the validated config, builds pools, the router,
// the server and (as they land) the modules, and runs the process lifecycle.

#include <string>

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
/// Validates deployment rules beyond the schema (e.g. production refuses
/// dev-only settings). Throws config::ConfigError.
void ValidatePolicy(const config::Config& config);

}  // namespace ticketd::app
