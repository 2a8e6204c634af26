// ticketd entry point: the command line. Exit codes are documented in
// README.md and app/app.hpp.
#include <CLI/CLI.hpp>
#include <pqxx/pqxx>

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>

#include "app/app.hpp"
#include "ticketd/core/config.hpp"
#include "ticketd/core/error.hpp"
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

// `ticketd healthcheck`: GET /healthz on the configured listener (the image's
// HEALTHCHECK), so a changed server.port or server.host is followed. A
// wildcard host is probed on loopback. Exit 0 on 200, 1 otherwise.
int Healthcheck(const ticketd::config::Config& config) {
  std::string host = config.String("server.host");
  const auto port = config.Int("server.port");
  if (port == 0) {
    std::cerr << "ticketd healthcheck: server.port is 0 (any free port); nothing to probe\n";
    return ticketd::app::kExitFailure;
  }
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::" || host == "[::]") host = "::1";
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    std::cerr << "ticketd healthcheck: " << host << ": " << gai_strerror(rc) << "\n";
    return ticketd::app::kExitFailure;
  }
  const int fd = socket(found->ai_family, found->ai_socktype, found->ai_protocol);
  timeval timeout{2, 0};  // connect (Linux honours SO_SNDTIMEO), send and receive
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  const bool connected = fd >= 0 && connect(fd, found->ai_addr, found->ai_addrlen) == 0;
  freeaddrinfo(found);
  std::string answer;
  if (connected) {
    const std::string request = "GET /healthz HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
      char buffer[512];
      for (ssize_t n; answer.find("\r\n") == std::string::npos && (n = recv(fd, buffer, sizeof buffer, 0)) > 0;) {
        answer.append(buffer, static_cast<std::size_t>(n));
      }
    }
  }
  const int error = errno;
  if (fd >= 0) close(fd);
  const auto status_line = answer.substr(0, answer.find("\r\n"));
  if (status_line.starts_with("HTTP/1.1 200 ") || status_line == "HTTP/1.1 200") return ticketd::app::kExitOk;
  std::cerr << "ticketd healthcheck: http://" << host << ":" << port << "/healthz: "
            << (status_line.empty() ? std::string(std::strerror(error)) : status_line) << "\n";
  return ticketd::app::kExitFailure;
}

/// Runs one command and maps what it throws to the documented exit codes:
/// a bad argument or configuration → 2, the database (libpqxx, or Postgres
/// unreachable) → 3, anything
/// else → `otherwise` (1 unless the command's failures are database failures
/// by definition, as a migration's are).
template <class Fn>
int RunCommand(std::string_view failed, Fn&& fn, int otherwise = ticketd::app::kExitFailure) {
  try {
    return fn();
  } catch (const ticketd::config::ConfigError& e) {
    std::cerr << "ticketd: " << failed << ": invalid configuration: " << e.what() << "\n";
    return ticketd::app::kExitConfig;
  } catch (const std::invalid_argument& e) {
    std::cerr << "ticketd: " << failed << ": " << e.what() << "\n";
    return ticketd::app::kExitConfig;
  } catch (const pqxx::failure& e) {
    std::cerr << "ticketd: " << failed << ": database: " << e.what() << "\n";
    return ticketd::app::kExitDatabase;
  } catch (const ticketd::DependencyUnavailable& e) {  // the pools' "cannot connect"
    std::cerr << "ticketd: " << failed << ": " << e.dependency() << " unavailable: " << e.what() << "\n";
    return e.dependency() == "postgres" ? ticketd::app::kExitDatabase : otherwise;
  } catch (const std::exception& e) {
    std::cerr << "ticketd: " << failed << ": " << e.what() << "\n";
    return otherwise;
  }
}

/// A password from --password or --password-file (a file, or `-` for stdin:
/// one line, without its newline). A password given on the command line is
/// visible to every user of the host (ps, /proc), so the file forms are the
/// ones to use.
bool ReadPassword(std::string& password, const std::string& file) {
  if (file.empty()) return !password.empty();
  if (file == "-") {
    std::getline(std::cin, password);
  } else {
    std::ifstream in(file);
    if (!in) {
      std::cerr << "ticketd: cannot read --password-file " << file << "\n";
      return false;
    }
    std::getline(in, password);
  }
  if (!password.empty() && password.back() == '\r') password.pop_back();
  return !password.empty();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"ticketd — concert ticketing backend (auth, catalog, queue, reservation, payment)", "ticketd"};
  cli.set_version_flag("--version", std::string("ticketd ") + TICKETD_VERSION_STRING);
  std::string config_path;
  // Every command that reads the config takes -c/--config; TICKETD_CONFIG
  // stands in when it is absent.
  const auto with_config = [&config_path](CLI::App* command) {
    command->add_option("-c,--config", config_path, "TOML config file (TICKETD_<SECTION>_<KEY> variables override it)")
        ->check(CLI::ExistingFile);
    return command;
  };
  with_config(&cli);
  with_config(cli.add_subcommand("serve", "Run the server (the default when no command is given)"));
  auto* migrate = with_config(cli.add_subcommand("migrate", "Apply pending database migrations and exit"));
  auto* check =
      with_config(cli.add_subcommand("check-config", "Validate the configuration, print it (secrets masked) and exit"));
  auto* healthcheck =
      with_config(cli.add_subcommand("healthcheck", "GET /healthz on server.host:server.port; exit 0 when 200"));
  auto* outbox = cli.add_subcommand("outbox", "Outbox operations");
  auto* outbox_status =
      with_config(outbox->add_subcommand("status", "Backlog, oldest unpublished age and failures per module outbox"));
  outbox->require_subcommand(1);
  auto* dlq = cli.add_subcommand("dlq", "Dead-letter topic operations");
  auto* dlq_replay =
      with_config(dlq->add_subcommand("replay", "Re-publish a DLQ topic's messages to their original topics"));
  std::string dlq_topic;
  dlq_replay->add_option("-t,--topic", dlq_topic, "Dead-letter topic, e.g. dlq.payment")->required();
  dlq->require_subcommand(1);
  auto* admin = cli.add_subcommand("admin", "Administration");
  auto* create_user = with_config(
      admin->add_subcommand("create-user", "Create an account (e.g. the first admin) without captcha/identity"));
  ticketd::app::UserSpec user{"", "", "", "", "USER"};
  std::string password_file;
  create_user->add_option("--email", user.email, "Email")->required();
  create_user->add_option("--password", user.password, "Password (8-128 characters); prefer --password-file");
  create_user->add_option("--password-file", password_file, "File holding the password (first line), or - for stdin");
  create_user->add_option("--name", user.name, "Display name")->required();
  create_user->add_option("--phone", user.phone, "Phone number")->default_val("010-0000-0000");
  create_user->add_option("--role", user.role, "USER or ADMIN")->check(CLI::IsMember({"USER", "ADMIN", "user", "admin"}));
  admin->require_subcommand(1);
  auto* seed = with_config(cli.add_subcommand("seed", "Create the demo accounts of the dev config (development only)"));
  auto* seed_users =
      with_config(cli.add_subcommand("seed-users", "Bulk benchmark accounts sharing one password (development only)"));
  ticketd::app::SeedUsersSpec seed_spec;
  seed_users->add_option("--count", seed_spec.count, "How many accounts")->required()->check(CLI::Range(1, 1000000));
  seed_users->add_option("--prefix", seed_spec.prefix, "Emails are <prefix>-<i>@bench.test")->default_val("bench");
  seed_users->add_option("--first", seed_spec.first, "First i")->default_val(1)->check(CLI::NonNegativeNumber);
  seed_users->add_option("--password", seed_spec.password, "The shared password (8-128 characters); prefer --password-file");
  seed_users->add_option("--password-file", password_file, "File holding the password (first line), or - for stdin");
  seed_users->add_option("--tokens-out", seed_spec.tokens_out, "Write \"email access_token\" per line (a session per user)");
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

  // Without --config, TICKETD_CONFIG names the file (the image sets it, so
  // `podman run ticketd:local check-config` reads the image's config).
  if (const char* from_env = std::getenv(ticketd::config::kConfigPathVariable);
      config_path.empty() && from_env != nullptr && *from_env != '\0') {
    struct stat info {};
    if (stat(from_env, &info) != 0 || !S_ISREG(info.st_mode)) {
      std::cerr << "ticketd: invalid configuration: " << ticketd::config::kConfigPathVariable << ": no such file \""
                << from_env << "\"\n";
      return ticketd::app::kExitConfig;
    }
    config_path = from_env;
  }

  ticketd::config::Config config;
  if (healthcheck->parsed()) {
    // Loaded without the policy checks: only the listener matters here.
    try {
      config = ticketd::config::Config::Load(config_path, ticketd::config::Config::ProcessEnv());
    } catch (const std::exception& e) {
      std::cerr << "ticketd healthcheck: invalid configuration: " << e.what() << "\n";
      return ticketd::app::kExitConfig;
    }
    return Healthcheck(config);
  }
  if (int rc = LoadConfig(config_path, config); rc != 0) return rc;

  if (check->parsed()) {
    std::cout << config.Describe() << "configuration OK\n";
    return ticketd::app::kExitOk;
  }
  if (create_user->parsed()) {
    if (!ReadPassword(user.password, password_file)) {
      std::cerr << "ticketd: admin create-user: give --password-file (or --password)\n";
      return ticketd::app::kExitConfig;
    }
    for (auto& ch : user.role) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return RunCommand("cannot create user", [&] { return ticketd::app::CreateUser(config, user); });
  }
  if (seed->parsed()) return RunCommand("seed failed", [&] { return ticketd::app::Seed(config); });
  if (seed_users->parsed()) {
    if (!ReadPassword(seed_spec.password, password_file)) {
      std::cerr << "ticketd: seed-users: give --password-file (or --password)\n";
      return ticketd::app::kExitConfig;
    }
    return RunCommand("seed-users failed", [&] { return ticketd::app::SeedUsers(config, seed_spec); });
  }
  if (outbox_status->parsed()) {
    return RunCommand("outbox status failed", [&] { return ticketd::app::OutboxStatus(config); });
  }
  if (dlq_replay->parsed()) {
    return RunCommand("dlq replay failed", [&] { return ticketd::app::DlqReplay(config, dlq_topic); });
  }
  if (migrate->parsed()) {
    return RunCommand("migration failed", [&] { return ticketd::app::Migrate(config); }, ticketd::app::kExitDatabase);
  }
  try {
    return ticketd::app::Serve(config);
  } catch (const std::exception& e) {
    ticketd::log::Error("fatal", {{"error", e.what()}});
    return ticketd::app::kExitFailure;
  }
}
