// ticketd entry point: the command line. Exit codes are documented in
// README.md and app/app.hpp.
#include <CLI/CLI.hpp>

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
  auto* healthcheck = cli.add_subcommand("healthcheck", "GET /healthz on server.host:server.port; exit 0 when 200");
  healthcheck->add_option("-c,--config", config_path, "TOML config file")->check(CLI::ExistingFile);
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
  auto* admin = cli.add_subcommand("admin", "Administration");
  auto* create_user = admin->add_subcommand("create-user", "Create an account (e.g. the first admin) without captcha/identity");
  ticketd::app::UserSpec user{"", "", "", "", "USER"};
  create_user->add_option("--email", user.email, "Email")->required();
  create_user->add_option("--password", user.password, "Password (8-128 characters); prefer --password-file");
  std::string password_file;
  create_user->add_option("--password-file", password_file, "File holding the password")->check(CLI::ExistingFile);
  create_user->add_option("--name", user.name, "Display name")->required();
  create_user->add_option("--phone", user.phone, "Phone number")->default_val("010-0000-0000");
  create_user->add_option("--role", user.role, "USER or ADMIN")->check(CLI::IsMember({"USER", "ADMIN", "user", "admin"}));
  create_user->add_option("-c,--config", config_path, "TOML config file")->check(CLI::ExistingFile);
  admin->require_subcommand(1);
  auto* seed = cli.add_subcommand("seed", "Create the demo accounts of the dev config (development only)");
  seed->add_option("-c,--config", config_path, "TOML config file")->check(CLI::ExistingFile);
  auto* seed_users = cli.add_subcommand("seed-users", "Bulk benchmark accounts sharing one password (development only)");
  ticketd::app::SeedUsersSpec seed_spec;
  seed_users->add_option("--count", seed_spec.count, "How many accounts")->required()->check(CLI::Range(1, 1000000));
  seed_users->add_option("--prefix", seed_spec.prefix, "Emails are <prefix>-<i>@bench.test")->default_val("bench");
  seed_users->add_option("--first", seed_spec.first, "First i")->default_val(1)->check(CLI::NonNegativeNumber);
  seed_users->add_option("--password", seed_spec.password, "The shared password (8-128 characters)")->required();
  seed_users->add_option("--tokens-out", seed_spec.tokens_out, "Write \"email access_token\" per line (a session per user)");
  seed_users->add_option("-c,--config", config_path, "TOML config file")->check(CLI::ExistingFile);
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
    if (!password_file.empty()) {
      std::ifstream in(password_file);
      std::getline(in, user.password);
    }
    if (user.password.empty()) {
      std::cerr << "ticketd: give --password or --password-file\n";
      return ticketd::app::kExitConfig;
    }
    for (auto& ch : user.role) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    try {
      return ticketd::app::CreateUser(config, user);
    } catch (const std::invalid_argument& e) {
      std::cerr << "ticketd: cannot create user: " << e.what() << "\n";
      return ticketd::app::kExitConfig;
    } catch (const std::exception& e) {
      std::cerr << "ticketd: cannot create user: " << e.what() << "\n";
      return ticketd::app::kExitDatabase;
    }
  }
  if (seed->parsed()) {
    try {
      return ticketd::app::Seed(config);
    } catch (const std::exception& e) {
      std::cerr << "ticketd: seed failed: " << e.what() << "\n";
      return ticketd::app::kExitDatabase;
    }
  }
  if (seed_users->parsed()) {
    try {
      return ticketd::app::SeedUsers(config, seed_spec);
    } catch (const std::invalid_argument& e) {
      std::cerr << "ticketd: seed-users: " << e.what() << "\n";
      return ticketd::app::kExitConfig;
    } catch (const std::exception& e) {
      std::cerr << "ticketd: seed-users failed: " << e.what() << "\n";
      return ticketd::app::kExitDatabase;
    }
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
