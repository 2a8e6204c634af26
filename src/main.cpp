// ticketd entry point: the command line. Exit codes are documented in
// README.md and app/app.hpp.
#include <CLI/CLI.hpp>

#include <iostream>

#include "app/app.hpp"
#include "ticketd/core/config.hpp"
#include "ticketd/core/log.hpp"

namespace {

int LoadConfig(const std::string& path, ticketd::config::Config& out) {
  try {
    out = ticketd::config::Config::Load(path, ticketd::config::Config::ProcessEnv());
    ticketd::app::ValidatePolicy(out);
  } catch (const ticketd::config::ConfigError& e) {
    std::cerr << "ticketd: invalid configuration: " << e.what() << "\n";
    return ticketd::app::kExitConfig;
  } catch (const std::exception& e) {
    std::cerr << "ticketd: invalid configuration: " << e.what() << "\n";
    return ticketd::app::kExitConfig;
  }
  ticketd::log::Level level{};
  ticketd::log::ParseLevel(out.String("log.level"), level);
  ticketd::log::SetLevel(level);
  return ticketd::app::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"ticketd — concert ticketing backend (auth, catalog, queue, reservation, payment)", "ticketd"};
  cli.set_version_flag("--version", std::string("ticketd ") + TICKETD_VERSION_STRING);
  std::string config_path;
  cli.add_option("-c,--config", config_path, "TOML config file (TICKETD_<SECTION>_<KEY> variables override it)")
      ->check(CLI::ExistingFile);
  auto* serve = cli.add_subcommand("serve", "Run the server (the default when no command is given)");
  serve->add_option("-c,--config", config_path, "TOML config file")->check(CLI::ExistingFile);
  auto* migrate = cli.add_subcommand("migrate", "Apply pending database migrations and exit");
  migrate->add_option("-c,--config", config_path, "TOML config file")->check(CLI::ExistingFile);
  auto* check = cli.add_subcommand("check-config", "Validate the configuration, print it (secrets masked) and exit");
  check->add_option("-c,--config", config_path, "TOML config file")->check(CLI::ExistingFile);
  auto* outbox = cli.add_subcommand("outbox", "Outbox operations");
  auto* outbox_status = outbox->add_subcommand("status", "Backlog, oldest unpublished age and failures per module outbox");
  outbox_status->add_option("-c,--config", config_path, "TOML config file")->check(CLI::ExistingFile);
  outbox->require_subcommand(1);
  auto* dlq = cli.add_subcommand("dlq", "Dead-letter topic operations");
  auto* dlq_replay = dlq->add_subcommand("replay", "Re-publish a DLQ topic's messages to their original topics");
  std::string dlq_topic;
  dlq_replay->add_option("-t,--topic", dlq_topic, "Dead-letter topic, e.g. dlq.payment")->required();
  dlq_replay->add_option("-c,--config", config_path, "TOML config file")->check(CLI::ExistingFile);
  dlq->require_subcommand(1);
  cli.require_subcommand(0, 1);
  cli.footer(
      "Exit codes: 0 success, 1 runtime failure, 2 invalid usage or configuration, 3 database or migration failure.");

  try {
    cli.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return cli.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return cli.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return cli.exit(e);
  } catch (const CLI::ParseError& e) {
    cli.exit(e);
    return ticketd::app::kExitConfig;
  }

  ticketd::config::Config config;
  if (int rc = LoadConfig(config_path, config); rc != 0) return rc;

  if (check->parsed()) {
    std::cout << config.Describe() << "configuration OK\n";
    return ticketd::app::kExitOk;
  }
  if (outbox_status->parsed()) {
    try {
      return ticketd::app::OutboxStatus(config);
    } catch (const std::exception& e) {
      std::cerr << "ticketd: outbox status failed: " << e.what() << "\n";
      return ticketd::app::kExitDatabase;
    }
  }
  if (dlq_replay->parsed()) {
    try {
      return ticketd::app::DlqReplay(config, dlq_topic);
    } catch (const std::exception& e) {
      std::cerr << "ticketd: dlq replay failed: " << e.what() << "\n";
      return ticketd::app::kExitFailure;
    }
  }
  if (migrate->parsed()) {
    try {
      return ticketd::app::Migrate(config);
    } catch (const std::exception& e) {
      std::cerr << "ticketd: migration failed: " << e.what() << "\n";
      return ticketd::app::kExitDatabase;
    }
  }
  try {
    return ticketd::app::Serve(config);
  } catch (const std::exception& e) {
    ticketd::log::Error("fatal", {{"error", e.what()}});
    return ticketd::app::kExitFailure;
  }
}
