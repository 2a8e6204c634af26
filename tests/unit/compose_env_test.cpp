// The deployment files (docker/compose.yaml, docker/Dockerfile, the example
// configs) name config keys by hand; these tests keep them in step with the
// schema so a renamed or misspelt key fails here, not at a container's start.

#include "ticketd/core/config.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "app/app.hpp"
#include "support/process.hpp"

namespace ticketd::config {
namespace {

namespace fs = std::filesystem;
using Env = std::map<std::string, std::string>;

const std::string kSourceDir = TICKETD_SOURCE_DIR;
const std::string kComposePath = kSourceDir + "/docker/compose.yaml";
const std::string kDockerfilePath = kSourceDir + "/docker/Dockerfile";
const std::string kDevConfigPath = kSourceDir + "/config/ticketd.dev.toml";
const std::string kProdConfigPath = kSourceDir + "/config/ticketd.prod.example.toml";

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path);
  std::ostringstream content;
  content << in.rdbuf();
  return std::move(content).str();
}

bool IsNameChar(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }

// Length of the TICKETD_[A-Z0-9_]+ name starting at `at`, 0 when none does.
std::size_t NameLengthAt(std::string_view text, std::size_t at) {
  constexpr std::string_view kPrefix = "TICKETD_";
  if (text.substr(at, kPrefix.size()) != kPrefix) return 0;
  std::size_t end = at + kPrefix.size();
  while (end < text.size() && IsNameChar(text[end])) ++end;
  return end > at + kPrefix.size() ? end - at : 0;
}

// Every TICKETD_[A-Z0-9_]+ name mentioned anywhere in `text` (values, comments,
// both `KEY: value` and `- KEY=value` forms), except CMake options
// (`-DTICKETD_...`). Hand-rolled: GCC 12's <regex> trips -Wmaybe-uninitialized.
std::vector<std::string> EnvNamesIn(std::string_view text) {
  std::vector<std::string> names;
  for (auto at = text.find("TICKETD_"); at != std::string_view::npos; at = text.find("TICKETD_", at + 1)) {
    const auto length = NameLengthAt(text, at);
    if (length == 0) continue;
    const bool cmake_option = at >= 2 && text.substr(at - 2, 2) == "-D";
    const bool inside_word = at >= 1 && (IsNameChar(text[at - 1]) || (text[at - 1] >= 'a' && text[at - 1] <= 'z'));
    if (!cmake_option && !inside_word) names.emplace_back(text.substr(at, length));
  }
  return names;
}

std::set<std::string> KnownEnvNames() {
  std::set<std::string> names{kConfigPathVariable};
  for (const auto& spec : Schema()) {
    names.insert(EnvName(spec.section, spec.key));
    if (spec.secret) names.insert(EnvName(spec.section, spec.key) + "_FILE");
  }
  return names;
}

void CheckAllKnown(const std::string& path, const std::vector<std::string>& names) {
  const auto known = KnownEnvNames();
  for (const auto& name : names) {
    CHECK_MESSAGE(known.contains(name), path << " names " << name << ", which is no config key");
  }
}

// Secret files standing in for /run/secrets/* while loading the prod example.
class SecretFiles {
 public:
  SecretFiles() {
    static std::atomic<int> counter{0};
    const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
    dir_ = fs::temp_directory_path() /
           ("ticketd-compose-env-test-" + std::to_string(stamp) + "-" + std::to_string(counter++));
    fs::create_directories(dir_);
  }
  SecretFiles(const SecretFiles&) = delete;
  SecretFiles& operator=(const SecretFiles&) = delete;
  ~SecretFiles() {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  [[nodiscard]] std::string Write(const std::string& name, const std::string& content) const {
    const auto path = dir_ / name;
    std::ofstream(path, std::ios::binary) << content;
    return path.string();
  }

 private:
  fs::path dir_;
};

}  // namespace

TEST_CASE("compose env: every TICKETD_ variable in docker/compose.yaml is a config key") {
  const auto names = EnvNamesIn(ReadText(kComposePath));
  REQUIRE(names.size() >= 5);
  CheckAllKnown(kComposePath, names);
}

TEST_CASE("compose env: every TICKETD_ name in the Dockerfile and the prod example is a config key") {
  // The Dockerfile's own build arguments (ARG TICKETD_UID=...) are no config keys.
  const auto dockerfile = ReadText(kDockerfilePath);
  std::set<std::string> build_args;
  for (auto at = dockerfile.find("\nARG "); at != std::string::npos; at = dockerfile.find("\nARG ", at + 1)) {
    const auto length = NameLengthAt(dockerfile, at + 5);
    if (length > 0) build_args.insert(dockerfile.substr(at + 5, length));
  }
  CHECK(build_args.contains("TICKETD_UID"));
  std::vector<std::string> names;
  for (auto& name : EnvNamesIn(dockerfile)) {
    if (!build_args.contains(name)) names.push_back(std::move(name));
  }
  CheckAllKnown(kDockerfilePath, names);
  CheckAllKnown(kProdConfigPath, EnvNamesIn(ReadText(kProdConfigPath)));
}

TEST_CASE("compose env: the prod example documents every key's env variable") {
  const auto text = ReadText(kProdConfigPath);
  for (const auto& spec : Schema()) {
    const auto name = EnvName(spec.section, spec.key);
    CHECK_MESSAGE(text.find(name) != std::string::npos, kProdConfigPath << " does not document " << name);
  }
}

TEST_CASE("compose env: the dev config loads") {
  const auto config = Config::Load(kDevConfigPath, {});
  CHECK(config.String("server.environment") == "development");
  CHECK(config.String("server.host") == "127.0.0.1");
  CHECK(config.Int("server.port") == 8080);
  CHECK(config.String("kafka.brokers") == "embedded");
  CHECK(config.Bool("database.migrate_on_start"));
  CHECK(config.Source("database.url") == "file");
}

TEST_CASE("compose env: the prod example loads when its secret files exist") {
  SecretFiles secrets;
  const auto url_file = secrets.Write("ticketd_database_url", "postgresql://owner:pw@db.internal:5432/ticketd\n");
  const auto password_file = secrets.Write("ticketd_module_password", "module-pw\n");
  const auto config = Config::Load(
      kProdConfigPath,
      {{"TICKETD_DATABASE_URL_FILE", url_file},
       {"TICKETD_DATABASE_MODULE_PASSWORD_FILE", password_file},
       {"TICKETD_AUTH_JWT_SECRET_FILE", secrets.Write("jwt", "prod-example-jwt-secret-0123456789abcdef01\n")},
       {"TICKETD_KAFKA_SASL_USERNAME_FILE", secrets.Write("kafka_user", "ticketd\n")},
       {"TICKETD_KAFKA_SASL_PASSWORD_FILE", secrets.Write("kafka_password", "kafka-pw\n")},
       {"TICKETD_AUTH_DATA_KEY_FILE", secrets.Write("data", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n")},
       {"TICKETD_AUTH_INDEX_KEY_FILE", secrets.Write("index", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n")},
       {"TICKETD_AUTH_RECAPTCHA_SECRET_FILE", secrets.Write("recaptcha", "recaptcha-secret\n")},
       {"TICKETD_AUTH_PORTONE_API_SECRET_FILE", secrets.Write("portone", "portone-secret\n")},
       {"TICKETD_PAYMENT_PORTONE_API_SECRET_FILE", secrets.Write("pay_portone", "portone-payment-secret\n")},
       {"TICKETD_PAYMENT_WEBHOOK_SECRET_FILE", secrets.Write("webhook", "whsec_cHJvZC1leGFtcGxlLXdlYmhvb2stc2VjcmV0\n")}});
  CHECK(config.String("payment.gateway") == "portone");
  CHECK(config.String("auth.captcha") == "recaptcha");
  CHECK(config.String("auth.jwt_secret").size() >= 32);
  CHECK(config.String("server.environment") == "production");
  CHECK(config.String("server.host") == "0.0.0.0");
  CHECK(config.Int("server.port") == 8080);
  CHECK_FALSE(config.Bool("database.migrate_on_start"));
  CHECK(config.String("database.url") == "postgresql://owner:pw@db.internal:5432/ticketd");
  CHECK(config.String("database.module_password") == "module-pw");
  CHECK_FALSE(config.List("edge.trusted_proxies").empty());
  CHECK(config.String("kafka.brokers") != "embedded");
  CHECK(config.String("kafka.sasl_password") == "kafka-pw");
  CHECK(config.String("auth.jwt_previous_keys").empty());  // optional: no file named
  app::ValidatePolicy(config);  // what check-config and the server's start check

  // Without the overrides it reads its own secret paths under /run/secrets,
  // and names every missing one in one error.
  if (!fs::exists("/run/secrets")) {
    try {
      (void)Config::Load(kProdConfigPath, {});
      FAIL("expected a ConfigError for the missing secret files");
    } catch (const ConfigError& error) {
      const std::string message = error.what();
      CHECK(message.find("11 secret files cannot be used") != std::string::npos);
      for (const auto* file : {"ticketd_database_url", "ticketd_module_password", "ticketd_kafka_sasl_username",
                               "ticketd_kafka_sasl_password", "ticketd_jwt_secret", "ticketd_data_key",
                               "ticketd_index_key", "ticketd_recaptcha_secret", "ticketd_portone_api_secret",
                               "ticketd_payment_portone_api_secret", "ticketd_payment_webhook_secret"}) {
        CHECK_MESSAGE(message.find(std::string("/run/secrets/") + file) != std::string::npos, "not named: " << file);
      }
      CHECK(message.find("ticketd_jwt_previous_keys") == std::string::npos);
    }
  }
}

namespace {

// docker/compose.yaml as JSON (PyYAML resolves the anchor and the merge keys
// exactly as compose does); python3-yaml is a build dependency already.
boost::json::object ComposeFile() {
  const auto [rc, out] = test::RunCommand(
      {"/usr/bin/python3", "-c",
       "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)", kComposePath},
      {});
  REQUIRE_MESSAGE(rc == 0, "python3 could not read " << kComposePath << ": " << out);
  return boost::json::parse(out).as_object();
}

std::string Text(const boost::json::value& value) {
  if (value.is_string()) return std::string(value.as_string());
  if (value.is_int64()) return std::to_string(value.as_int64());
  if (value.is_bool()) return value.as_bool() ? "true" : "false";
  if (value.is_null()) return "";
  return boost::json::serialize(value);
}

// A service's environment (map or KEY=value list form) as strings.
Env EnvironmentOf(const boost::json::object& service) {
  Env env;
  if (!service.contains("environment")) return env;
  const auto& environment = service.at("environment");
  if (environment.is_object()) {
    for (const auto& [name, value] : environment.as_object()) env[std::string(name)] = Text(value);
  } else {
    for (const auto& item : environment.as_array()) {
      const auto text = Text(item);
      const auto eq = text.find('=');
      env[text.substr(0, eq)] = eq == std::string::npos ? "" : text.substr(eq + 1);
    }
  }
  return env;
}

std::vector<std::string> Split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto end = std::min(text.find(separator, start), text.size());
    if (end > start) parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

std::string UpperText(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

// "40s", "1m30s", "500ms" → milliseconds (compose durations).
std::int64_t DurationMs(const std::string& text) {
  std::int64_t total = 0;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t digits = at;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
    REQUIRE_MESSAGE(digits > at, "bad duration " << text);
    const auto number = std::stoll(text.substr(at, digits - at));
    std::size_t unit_end = digits;
    while (unit_end < text.size() && std::isalpha(static_cast<unsigned char>(text[unit_end]))) ++unit_end;
    const auto unit = text.substr(digits, unit_end - digits);
    const std::int64_t scale = unit == "ms" ? 1 : unit == "s" ? 1000 : unit == "m" ? 60000 : unit == "h" ? 3600000 : 0;
    REQUIRE_MESSAGE(scale != 0, "bad duration unit in " << text);
    total += number * scale;
    at = unit_end;
  }
  return total;
}

bool DependsOn(const boost::json::object& service, const std::string& other, const std::string& condition) {
  if (!service.contains("depends_on")) return false;
  const auto& depends = service.at("depends_on");
  if (depends.is_array()) {
    for (const auto& item : depends.as_array()) {
      if (Text(item) == other) return condition == "service_started";
    }
    return false;
  }
  const auto& map = depends.as_object();
  if (!map.contains(other)) return false;
  const auto& entry = map.at(other).as_object();
  return entry.contains("condition") && Text(entry.at("condition")) == condition;
}

// What ticketd's librdkafka clients will use: security.protocol and mechanism.
std::pair<std::string, std::string> KafkaSecurity(const Config& config) {
  std::string protocol = "PLAINTEXT";
  std::string mechanism = "GSSAPI";
  for (const auto& property : config.List("kafka.properties")) {
    const auto eq = property.find('=');
    if (property.substr(0, eq) == "security.protocol") protocol = UpperText(property.substr(eq + 1));
    if (property.substr(0, eq) == "sasl.mechanisms") mechanism = property.substr(eq + 1);
  }
  return {protocol, mechanism};
}

// Checks one ticketd service's effective config against the Kafka services it
// names: a listener advertised at that address, speaking the protocol ticketd
// will use (and the SASL mechanism), enough brokers for the replication factor.
void CheckKafka(const std::string& name, const Config& config, const boost::json::object& services) {
  const auto brokers = Split(config.String("kafka.brokers"), ',');
  REQUIRE_MESSAGE(!brokers.empty(), name << ": no kafka.brokers");
  const auto [protocol, mechanism] = KafkaSecurity(config);
  std::set<std::string> broker_services;
  for (const auto& broker : brokers) {
    const auto colon = broker.rfind(':');
    REQUIRE_MESSAGE(colon != std::string::npos, name << ": broker " << broker << " has no port");
    const auto host = broker.substr(0, colon);
    REQUIRE_MESSAGE(services.contains(host), name << ": kafka.brokers names " << host << ", which is no compose service");
    auto kafka_env = EnvironmentOf(services.at(host).as_object());
    CHECK_MESSAGE(kafka_env["KAFKA_PROCESS_ROLES"].find("broker") != std::string::npos, host << " is no broker");
    // KAFKA_ADVERTISED_LISTENERS: NAME://host:port,... ; the protocol map: NAME:PROTOCOL,...
    std::string listener;
    for (const auto& advertised : Split(kafka_env["KAFKA_ADVERTISED_LISTENERS"], ',')) {
      const auto scheme = advertised.find("://");
      if (scheme != std::string::npos && advertised.substr(scheme + 3) == broker) listener = advertised.substr(0, scheme);
    }
    REQUIRE_MESSAGE(!listener.empty(), name << ": " << host << " advertises no listener at " << broker);
    std::string listener_protocol = listener;  // without a map, the name is the protocol
    for (const auto& entry : Split(kafka_env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"], ',')) {
      const auto colon_at = entry.find(':');
      if (entry.substr(0, colon_at) == listener) listener_protocol = entry.substr(colon_at + 1);
    }
    CHECK_MESSAGE(UpperText(listener_protocol) == protocol, name << ": ticketd speaks " << protocol << " to " << broker
                                                                 << ", the listener there is " << listener_protocol);
    if (protocol.starts_with("SASL_")) {
      CHECK_MESSAGE(kafka_env["KAFKA_SASL_ENABLED_MECHANISMS"].find(mechanism) != std::string::npos,
                    name << ": " << host << " does not enable SASL " << mechanism);
    }
    broker_services.insert(host);
  }
  CHECK_MESSAGE(config.Int("kafka.replication_factor") <= static_cast<std::int64_t>(broker_services.size()),
                name << ": kafka.replication_factor " << config.Int("kafka.replication_factor") << " against "
                     << broker_services.size() << " broker(s)");
}

// database.url against the Postgres service it names (credentials, database, port).
void CheckDatabase(const std::string& name, const Config& config, const boost::json::object& services) {
  const auto& url = config.String("database.url");
  constexpr std::string_view kScheme = "postgresql://";
  REQUIRE_MESSAGE(url.starts_with(kScheme), name << ": database.url is no postgresql:// URL");
  const auto rest = url.substr(kScheme.size());
  const auto at = rest.rfind('@');
  const auto slash = rest.find('/', at == std::string::npos ? 0 : at);
  REQUIRE(at != std::string::npos);
  REQUIRE(slash != std::string::npos);
  const auto userinfo = rest.substr(0, at);
  const auto hostport = rest.substr(at + 1, slash - at - 1);
  const auto database = rest.substr(slash + 1, rest.find('?', slash) - slash - 1);
  const auto host = hostport.substr(0, hostport.find(':'));
  const auto port = hostport.find(':') == std::string::npos ? "5432" : hostport.substr(hostport.find(':') + 1);
  REQUIRE_MESSAGE(services.contains(host), name << ": database.url names " << host << ", which is no compose service");
  auto pg_env = EnvironmentOf(services.at(host).as_object());
  CHECK(userinfo.substr(0, userinfo.find(':')) == pg_env["POSTGRES_USER"]);
  CHECK(userinfo.substr(userinfo.find(':') + 1) == pg_env["POSTGRES_PASSWORD"]);
  CHECK(database == pg_env["POSTGRES_DB"]);
  CHECK(port == "5432");
  CHECK_MESSAGE(DependsOn(services.at(name).as_object(), host, "service_healthy"), name << " must wait for " << host);
}

}  // namespace

TEST_CASE("compose env: every ticketd service's effective config fits the services it talks to") {
  const auto compose = ComposeFile();
  const auto& services = compose.at("services").as_object();
  // The image reads its config from TICKETD_CONFIG; the file is the prod example.
  const auto dockerfile = ReadText(kDockerfilePath);
  REQUIRE(dockerfile.find("COPY config/ticketd.prod.example.toml /etc/ticketd/ticketd.toml") != std::string::npos);
  REQUIRE(dockerfile.find("ENV TICKETD_CONFIG=/etc/ticketd/ticketd.toml") != std::string::npos);
  REQUIRE(dockerfile.find("CMD [\"serve\"]") != std::string::npos);

  int ticketd_services = 0;
  int servers = 0;
  for (const auto& [service_name, service_value] : services) {
    const auto& service = service_value.as_object();
    if (!service.contains("image") || Text(service.at("image")) != "ticketd:local") continue;
    const std::string name(service_name);
    ++ticketd_services;
    CAPTURE(name);
    std::vector<std::string> command{"serve"};
    if (service.contains("command")) {
      command.clear();
      for (const auto& item : service.at("command").as_array()) command.push_back(Text(item));
    }
    REQUIRE(!command.empty());
    // No --config: the image's TICKETD_CONFIG applies to every command.
    CHECK(std::find(command.begin(), command.end(), "--config") == command.end());

    // What `check-config` would say, and what the server validates at start.
    const auto env = EnvironmentOf(service);
    Config config;
    try {
      config = Config::Load(kProdConfigPath, env);
      app::ValidatePolicy(config);
    } catch (const std::exception& error) {
      FAIL(name << ": the image's config with this service's environment is refused: " << std::string(error.what()));
    }
    CheckDatabase(name, config, services);
    if (command[0] == "migrate") {
      CHECK(Text(service.at("restart")) == "no");
      continue;
    }
    REQUIRE(command[0] == "serve");
    ++servers;
    CHECK_FALSE(config.Bool("database.migrate_on_start"));
    CHECK(DependsOn(service, "ticketd-migrate", "service_completed_successfully"));
    CheckKafka(name, config, services);
    for (const auto& broker : Split(config.String("kafka.brokers"), ',')) {
      CHECK(DependsOn(service, broker.substr(0, broker.rfind(':')), "service_healthy"));
    }
    // Reachable through the published port, on every interface in the container.
    CHECK(config.String("server.host") == "0.0.0.0");
    bool published = false;
    for (const auto& port : service.at("ports").as_array()) {
      const auto text = Text(port);
      published = published || text.substr(text.rfind(':') + 1) == std::to_string(config.Int("server.port"));
    }
    CHECK_MESSAGE(published, name << " does not publish server.port " << config.Int("server.port"));
    // The drain fits in the stop grace period (compose's default is 10 s).
    const auto grace_ms = service.contains("stop_grace_period") ? DurationMs(Text(service.at("stop_grace_period"))) : 10000;
    CHECK_MESSAGE(grace_ms >= config.Int("server.drain_timeout_ms") + 5000,
                  name << ": stop_grace_period " << grace_ms << " ms < server.drain_timeout_ms "
                       << config.Int("server.drain_timeout_ms") << " ms + 5 s");
    // The image's HEALTHCHECK stays on (it follows server.port/server.host).
    CHECK_FALSE(service.contains("healthcheck"));
  }
  CHECK(ticketd_services == 2);
  CHECK(servers == 1);
}

TEST_CASE("compose env: the effective-config check catches the image's Kafka settings") {
  // Without compose's overrides the server would speak SASL_SSL to a PLAINTEXT
  // listener with replication factor 3 against one broker: the check above
  // must be able to see that (it is what crash-looped before).
  auto env = EnvironmentOf(ComposeFile().at("services").as_object().at("ticketd").as_object());
  env.erase("TICKETD_KAFKA_PROPERTIES");
  env.erase("TICKETD_KAFKA_REPLICATION_FACTOR");
  SecretFiles secrets;
  env.erase("TICKETD_KAFKA_SASL_USERNAME");
  env.erase("TICKETD_KAFKA_SASL_PASSWORD");
  env["TICKETD_KAFKA_SASL_USERNAME_FILE"] = secrets.Write("user", "ticketd\n");
  env["TICKETD_KAFKA_SASL_PASSWORD_FILE"] = secrets.Write("password", "pw\n");
  const auto config = Config::Load(kProdConfigPath, env);
  CHECK(KafkaSecurity(config).first == "SASL_SSL");
  CHECK(config.Int("kafka.replication_factor") == 3);
  // and without credentials it is refused before start, naming the key (exit 2)
  env.erase("TICKETD_KAFKA_SASL_USERNAME_FILE");
  env["TICKETD_KAFKA_SASL_USERNAME"] = "";
  try {
    app::ValidatePolicy(Config::Load(kProdConfigPath, env));
    FAIL("expected a ConfigError");
  } catch (const ConfigError& error) {
    CHECK(error.key() == "kafka.sasl_username");
  }
}

}  // namespace ticketd::config
